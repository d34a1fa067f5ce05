/**
 * A real Alertmanager (Debian's prometheus-alertmanager 0.25; upstream's binary is `alertmanager`)
 * for tests: the caller's config file, storage in a temp directory, a free loopback port, cluster
 * gossip off (`--cluster.listen-address=` empty), ready when /-/ready answers. alerts() reads
 * /api/v2/alerts, including suppressed (inhibited) ones, so a test can see why nothing was sent.
 * It does not write the config: the caller does (relative paths in it resolve against its folder).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './process';
import { freePort } from './prosody-server';

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
  receivers: Array<{ name: string }>;
  fingerprint: string;
}

export interface RunningAlertmanager {
  url: string;
  alerts(): Promise<AlertmanagerAlert[]>;
  log(): string;
  /** A function, not a method: callers push it onto their list of things to stop. */
  stop: () => Promise<void>;
}

/** The program's name here: Debian renames it to avoid a clash. */
export function alertmanagerBinary(): string {
  const found = ['prometheus-alertmanager', 'alertmanager'].find((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);
  return found ?? 'prometheus-alertmanager';
}

export async function startAlertmanager(options: { configFile: string }): Promise<RunningAlertmanager> {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-am-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    alertmanagerBinary(),
    [
      `--config.file=${options.configFile}`,
      `--storage.path=${storage}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${url}`,
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}`);
    return fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
  };
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(storage, { recursive: true, force: true });
  };
  await waitFor(ready, 15_000, 'Alertmanager to be ready').catch(async (err: Error) => {
    await stop();
    throw new Error(`${err.message}:\n${log}`);
  });
  return {
    url,
    alerts: async () => {
      const res = await fetch(`${url}/api/v2/alerts?active=true&silenced=true&inhibited=true`);
      if (!res.ok) throw new Error(`Alertmanager /api/v2/alerts: ${res.status}`);
      return (await res.json()) as AlertmanagerAlert[];
    },
    log: () => log,
    stop,
  };
}
