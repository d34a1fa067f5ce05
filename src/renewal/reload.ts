/**
 * Tells Prosody (or anything else) that a certificate changed: `renewal.reload` is either a
 * command (no shell; certbot's RENEWED_LINEAGE and RENEWED_DOMAINS in its environment) or a
 * signal to the process in a pidfile. A failure becomes a RenewalError with reason `reload`
 * naming what failed; the installed certificate stays in place.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { ReloadConfig } from '../config/renewal-schema';
import { RenewalError, messageOf } from '../shared/errors';
import type { CertificateGroup } from './types';

const COMMAND_TIMEOUT_MS = 120_000;

export interface ReloadOutcome {
  /** What was done, for the step-by-step output. */
  did: string;
}

/** `env`: more variables for a command (the TLSA values of the new certificate). */
export async function reload(config: ReloadConfig, group: CertificateGroup, lineage: string, env: Record<string, string> = {}): Promise<ReloadOutcome> {
  if ('command' in config) return runCommand(config.command, group, lineage, env);
  return signalPidfile(config.signal, config.pidfile, group);
}

function runCommand(command: readonly string[], group: CertificateGroup, lineage: string, extra: Record<string, string>): Promise<ReloadOutcome> {
  const [file, ...args] = command as [string, ...string[]];
  const env = { ...process.env, ...extra, RENEWED_LINEAGE: lineage, RENEWED_DOMAINS: group.domains.join(' ') };
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve({ did: `ran ${command.join(' ')}` });
      const tail = String(stderr).trim().split('\n').slice(-3).join(' | ');
      const why = err.killed ? `timed out after ${COMMAND_TIMEOUT_MS / 1000}s` : typeof err.code === 'number' ? `exited with ${err.code}` : messageOf(err);
      reject(
        new RenewalError(
          `reload command "${command.join(' ')}" for ${group.name} ${why}${tail ? `: ${tail}` : ''}; the new certificate is installed but may not be served (check renewal.reload)`,
          'reload',
          group.name,
          {},
          { cause: err },
        ),
      );
    });
  });
}

async function signalPidfile(signal: string, pidfile: string, group: CertificateGroup): Promise<ReloadOutcome> {
  try {
    const pid = Number.parseInt((await fs.promises.readFile(pidfile, 'utf8')).trim(), 10);
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no process id in ${pidfile}`);
    process.kill(pid, `SIG${signal}` as NodeJS.Signals);
    return { did: `sent SIG${signal} to ${pid} (${pidfile})` };
  } catch (err) {
    throw new RenewalError(
      `cannot send SIG${signal} for ${group.name} to the process in ${pidfile}: ${messageOf(err)} (check renewal.reload.pidfile and that the worker may signal it)`,
      'reload',
      group.name,
      {},
      { cause: err },
    );
  }
}
