#!/usr/bin/env node
/**
 * The `xmpp-cert` command line: commander wiring only. Each action loads the config, calls the
 * layer that does the work and maps the outcome to an exit code. Config errors exit 1 with the
 * message naming the key (monitor: 3, UNKNOWN, as a plugin must). Flags are spelled as the
 * Prometheus exporters spell them (--web.listen-address, --log.level); the earlier spellings
 * (--listen, --log-level) stay as aliases. No error prints a stack unless --log.level is debug.
 */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { AccountAction } from './commands/account';
import { challengePlan } from './commands/challenge-plan';
import { renewalWarnings } from './commands/renewal-warnings';
import { registerDashboard } from './commands/dashboard';
import { registerNotify } from './commands/notify';
import { registerMonitor } from './commands/monitor';
import { printStep, renewExitCode, renewSummary } from './commands/renew';
import { compactNow, exitAfterDeadline, favourMemory, onShutdown } from './commands/process-lifecycle';
import { registerSetup } from './commands/setup';
import { tlsaCommand } from './commands/tlsa';
import { watchedDomains } from './commands/config-check';
import { writeOutput } from './commands/output';
import { loadConfig, displayConfig, overrideWarnings, parseDuration, thresholdProblems, type LoadedConfig } from './config';
import { NO_ISSUER } from './config/renewal-schema';
import { statusJson } from './evaluate';
import { Exporter, scanOnce } from './processes/exporter';
import { ConfigError, DiscoveryError, XmppCertError, messageOf } from './shared/errors';
import { loadProsodyConfig } from './discovery';
import { createLogger, type Logger } from './shared/log';
import { versionText } from './shared/version';
import { InventoryScanner } from './sources/inventory';
import { certificateGroups } from './renewal/groups';
import { resolveDirectory } from './renewal/issuers/directory';
import { REVOCATION_REASONS, type RevocationReason } from './renewal/types';
import YAML from 'yaml';

interface GlobalOptions {
  config?: string;
  legacyConf?: string;
  'log.level'?: string;
  logLevel?: string;
  'log.format'?: string;
}

const program = new Command()
  .name('xmpp-cert')
  .description('Certificate monitoring (Prometheus exporter) and renewal for XMPP (Prosody) servers')
  .version(versionText(), '-V, --version', 'print the version, git revision, build date and Node.js version')
  // No -c: `monitor -c` is the critical threshold, as in check_ssl_cert.
  .addOption(new Option('--config <file>', 'YAML config file').env('XMPP_CERT_CONFIG'))
  .option('--legacy-conf <file>', "the previous tooling's cert-monitor.conf (KEY=VALUE lines)")
  .option('--log.level <level>', 'override logging.level: trace, debug, info, warn, error, fatal or silent')
  .option('--log-level <level>', 'alias of --log.level')
  .option('--log.format <format>', 'override logging.format: json (default) or logfmt')
  .showHelpAfterError();

function load(extraFlags: Record<string, string | undefined> = {}): LoadedConfig {
  const opts = program.opts<GlobalOptions>();
  return loadConfig({
    file: opts.config,
    legacyConf: opts.legacyConf,
    flags: { 'logging.level': opts['log.level'] ?? opts.logLevel, 'logging.format': opts['log.format'], ...extraFlags },
  });
}

/** The process logger on stdout (serve, run, worker), or on stderr (`fd` 2) for one-shot verbs whose stdout is their output. */
const logger = (loaded: LoadedConfig, fd = 1) => createLogger(loaded.config.logging.level, fd, loaded.config.logging.format);

/** A stack only for whoever asked for debug output; the flag is read as given, the config may not even load. */
function debugWanted(): boolean {
  const opts = program.opts<GlobalOptions>();
  return ['debug', 'trace'].includes(opts['log.level'] ?? opts.logLevel ?? '');
}

/** Runs an action; errors print one line (no stack unless --log.level debug) and exit 1. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const text =
        err instanceof XmppCertError
          ? err.message
          : debugWanted()
            ? ((err as Error).stack ?? messageOf(err))
            : `${messageOf(err)} (--log.level debug shows where)`;
      process.stderr.write(`xmpp-cert: ${text}\n`);
      process.exitCode = 1;
    }
  };
}

/**
 * `xmpp-cert dashboard --export - | head`: the reader goes away mid-output. One line, no stack,
 * and the exit code the command already had (a shell pipeline reports head's anyway).
 */
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.stderr.write('xmpp-cert: standard output was closed by the reader (broken pipe); the rest of the output was not written\n');
  process.exit(process.exitCode ?? 0);
});

/** The renewal worker; loaded only by the verbs that renew (acme-client, @peculiar/x509). */
async function createWorker(loaded: LoadedConfig, log: Logger, options: import('./processes/worker').WorkerOptions = {}) {
  const { Worker } = await import('./processes/worker');
  return new Worker(loaded, log, options);
}

/** The exporter flags of node_exporter and blackbox_exporter (commander camel-cases after a dash), and the earlier --listen. */
interface ServerFlags {
  'web.listenAddress'?: string;
  listen?: string;
  'web.config.file'?: string;
  'web.telemetryPath'?: string;
}

async function serve(flags: ServerFlags, withWorker: boolean): Promise<void> {
  const serverFlags = {
    'server.listen': flags['web.listenAddress'] ?? flags.listen,
    'server.webConfig': flags['web.config.file'],
    'server.telemetryPath': flags['web.telemetryPath'],
  };
  const loaded = load(serverFlags);
  const log = logger(loaded);
  for (const problem of thresholdProblems(loaded.config)) log.warn(problem);
  // V8 favours size once the cold scan is done: fast while it runs, small afterwards (see favourMemory).
  const exporter = new Exporter(
    loaded,
    () => load(serverFlags),
    log,
    () => {
      favourMemory();
      compactNow();
    },
  );
  // In one process the worker tells the exporter to rescan after an install, so /metrics shows it at once.
  const worker = withWorker ? await createWorker(loaded, log, { onInstalled: () => void exporter.scan() }) : undefined;
  // The worker will write there: a configured certificate directory that does not exist yet is
  // created first, so the exporter's first scan does not report it down (a fresh `npm start`).
  if (worker && loaded.config.prosody.certs) fs.mkdirSync(loaded.config.prosody.certs, { recursive: true, mode: 0o755 });
  await exporter.start();
  process.on('SIGHUP', () => void exporter.reload());
  onShutdown(
    log,
    async () => {
      await worker?.stop();
      await exporter.stop();
    },
    () => worker?.installing ?? false,
  );
  await worker?.start();
}

const serverOptions = (cmd: Command) =>
  cmd
    .option('--web.listen-address <host:port>', 'override server.listen (e.g. :10522 or 127.0.0.1:10522)')
    .option('--listen <host:port>', 'alias of --web.listen-address')
    .option('--web.config.file <file>', "exporter-toolkit's web-config.yml (TLS, basic auth)")
    .option('--web.telemetry-path <path>', 'override server.telemetryPath, where the metrics are served (default /metrics)');

serverOptions(program.command('serve').description('run the Prometheus exporter (never writes certificates)')).action(
  action(async (opts: ServerFlags) => serve(opts, false)),
);

serverOptions(program.command('run').description('exporter and renewal worker in one process')).action(action(async (opts: ServerFlags) => serve(opts, true)));

program
  .command('worker')
  .description('the renewal sidecar: renews due certificates on a schedule, installs them, reloads Prosody, verifies')
  .action(
    action(async () => {
      favourMemory();
      const loaded = load();
      const log = logger(loaded);
      for (const problem of thresholdProblems(loaded.config)) log.warn(problem);
      const worker = await createWorker(loaded, log);
      onShutdown(
        log,
        () => worker.stop(),
        () => worker.installing,
      );
      await worker.start();
    }),
  );

program
  .command('auto-renew')
  .description('one shot: renew every certificate that is due; exit 1 if any renewal failed')
  .option('--timer-interval <duration>', 'how often a timer runs this (recorded with the heartbeat for its alert)', '1d')
  .action(
    action(async (opts: { timerInterval: string }) => {
      const timerInterval = parseDuration(opts.timerInterval);
      if (timerInterval === undefined || timerInterval <= 0)
        throw new ConfigError(`--timer-interval: expected a duration such as 1d or 12h, got "${opts.timerInterval}"`);
      return oneShot({ timerInterval }, async (worker) => {
        if (!worker.hasIssuers) throw new ConfigError(NO_ISSUER);
        const outcomes = await worker.check();
        process.stdout.write(renewSummary(outcomes));
        return renewExitCode(outcomes);
      });
    }),
  );

program
  .command('renew <domain>')
  .description("renew the certificate holding DOMAIN (with renewal.retry's attempts); exit 1 if it failed")
  .option('--force', 'renew even when not due, and ignore a pending Retry-After, backoff or spacing wait')
  .option('--issuer <name>', 'use only this issuer from renewal.issuers (no fallback)')
  .option('--rotate-key', 'with renewal.key.reuse: switch to the prepared next key now (implies --force)')
  .option('--allow-untrusted', 'install the new certificate even if it does not verify while the one in place does')
  .option('--dry-run', "order from the issuer's staging directory (or the configured CA) and say what would be installed; install, reload and record nothing")
  .action(
    action(async (domain: string, opts: { force?: boolean; issuer?: string; rotateKey?: boolean; allowUntrusted?: boolean; dryRun?: boolean }) => {
      const issuer = opts.issuer ? { issuer: opts.issuer } : {};
      return oneShot({}, async (worker) => {
        if (opts.dryRun) return (await worker.dryRunDomain(domain.toLowerCase(), issuer)).ok ? 0 : 1;
        const outcome = await worker.renewDomain(domain.toLowerCase(), {
          ...(opts.force ? { force: true } : {}),
          ...issuer,
          ...(opts.rotateKey ? { rotateKey: true } : {}),
          ...(opts.allowUntrusted ? { allowUntrusted: true } : {}),
        });
        process.stdout.write(renewSummary([outcome]));
        return renewExitCode([outcome]);
      });
    }),
  );

program
  .command('revoke <domain>')
  .description('revoke the installed certificate of the group holding DOMAIN at its CA, then renew it; exit 1 if either failed')
  .addOption(new Option('--reason <reason>', 'RFC 5280 reason').choices(Object.keys(REVOCATION_REASONS)).default('unspecified'))
  .option('--issuer <name>', 'the ACME issuer to revoke with (default: the one that issued it, per the state file)')
  .option('--no-renew', 'revoke only; the revoked certificate stays installed until the next renewal')
  .action(
    action(async (domain: string, opts: { reason: RevocationReason; issuer?: string; renew: boolean }) =>
      oneShot({}, async (worker) => {
        const { outcome } = await worker.revokeDomain(domain.toLowerCase(), opts.reason, {
          renew: opts.renew,
          ...(opts.issuer ? { issuer: opts.issuer } : {}),
        });
        if (!outcome) return 0;
        process.stdout.write(renewSummary([outcome]));
        return renewExitCode([outcome]);
      }),
    ),
  );

/**
 * A one-shot renewal verb: its steps on stdout; SIGTERM/SIGINT stop it as they stop the worker (no
 * new attempt, an install in progress finishes with its reload), and it then exits 1.
 */
async function oneShot(options: { timerInterval?: number }, run: (worker: import('./processes/worker').Worker) => Promise<number>): Promise<number> {
  const loaded = load();
  const worker = await createWorker(loaded, logger(loaded, 2), { step: printStep, ...options });
  let interrupted: string | undefined;
  const stop = (signal: string) => {
    interrupted = signal;
    process.stderr.write(`xmpp-cert: ${signal}: stopping (no new attempt; an install in progress finishes first)\n`);
    exitAfterDeadline(
      signal,
      () => worker.installing,
      (text) => process.stderr.write(`xmpp-cert: ${text}\n`),
    );
    void worker.stop();
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  try {
    const code = await run(worker);
    return interrupted ? 1 : code;
  } finally {
    await worker.stop();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}

program
  .command('account [action]')
  .description('the ACME account: show (default), rollover (a new account key), deactivate (with --yes; cannot be undone)')
  .option('--issuer <name>', 'the ACME issuer (default: the first in renewal.issuers)')
  .option('--yes', 'confirm deactivate')
  .action(
    action(async (what: string | undefined, opts: { issuer?: string; yes?: boolean }) => {
      const actionName = (what ?? 'show') as AccountAction;
      if (!['show', 'rollover', 'deactivate'].includes(actionName)) throw new ConfigError(`account: expected show, rollover or deactivate, got "${what}"`);
      const loaded = load();
      const { accountCommand } = await import('./commands/account');
      process.stdout.write(await accountCommand(loaded.config, actionName, opts, logger(loaded, 2)));
    }),
  );

program
  .command('tlsa <domain>')
  .description('print the TLSA records (3 1 1 current and next key, 2 1 1 issuing CA) for the certificate holding DOMAIN')
  .option('--host <name...>', 'owner host names (the SRV targets); default DOMAIN')
  .option('--port <port...>', 'ports', ['5222', '5269'])
  .action(
    action(async (domain: string, opts: { host?: string[]; port: string[] }) => {
      const ports = opts.port.map(Number);
      if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535))
        throw new ConfigError(`tlsa --port: expected ports from 1 to 65535, got ${opts.port.join(', ')}`);
      process.stdout.write(await tlsaCommand(load().config, domain.toLowerCase(), { hosts: opts.host ?? [domain.toLowerCase()], ports }));
    }),
  );

registerMonitor(program, { load, logger: (loaded) => logger(loaded, 2) });

program
  .command('status')
  .description('write the JSON report (as /status serves it)')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .option('--no-probe', 'files only: do not connect to the live endpoints')
  .action(
    action(async (opts: { output?: string; probe: boolean }) => {
      const loaded = load();
      const report = await scanOnce(new InventoryScanner(loaded.config), loaded, logger(loaded, 2), opts.probe);
      const text = JSON.stringify(statusJson(report), null, 2) + '\n';
      // Atomic: a reader (a web server, a cron job) sees the previous report or this one, never half.
      if (opts.output) await writeOutput(opts.output, text, '--output');
      else process.stdout.write(text);
    }),
  );

registerSetup(program);
registerDashboard(program);

registerNotify(program);
const configCmd = program
  .command('config')
  .description('print the effective configuration, secrets redacted')
  .action(
    action(() => {
      process.stdout.write(YAML.stringify(displayConfig(load().config)));
    }),
  );

configCmd
  .command('check')
  .description('validate the configuration, and that its thresholds can work; warn about overrides naming no watched domain; exit 0 when valid, 1 otherwise')
  .action(
    action(async () => {
      let loaded: LoadedConfig;
      let prosodyWarnings: string[] = [];
      try {
        loaded = load();
        // prosody.cfg.lua is part of the configuration: unreadable or not valid Lua fails the check; Include problems warn.
        if (loaded.config.prosody.config) prosodyWarnings = (await loadProsodyConfig(loaded.config.prosody.config)).warnings;
      } catch (err) {
        if (!(err instanceof ConfigError) && !(err instanceof DiscoveryError)) throw err;
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
      for (const warning of prosodyWarnings) process.stderr.write(`warning: ${warning}\n`);
      const problems = thresholdProblems(loaded.config);
      const watched = await watchedDomains(loaded.config);
      for (const warning of [...(watched.note ? [watched.note] : []), ...overrideWarnings(loaded.config, watched.domains)]) {
        process.stderr.write(`warning: ${warning}\n`);
      }
      if (problems.length > 0) {
        process.stderr.write(`configuration refused${loaded.file ? `: ${loaded.file}` : ''}:\n  ${problems.join('\n  ')}\n`);
        return 1;
      }
      const prosody = loaded.config.prosody.config;
      process.stdout.write(`configuration OK${loaded.file ? `: ${loaded.file}` : ' (defaults and environment)'}${prosody ? `; ${prosody}` : ''}\n`);
      return printChallengePlan(loaded);
    }),
  );

/**
 * What config check prints after "configuration OK": warnings about renewal (warnings only) and the
 * challenge each watched name gets (1 when an order would fail for want of one).
 */
async function printChallengePlan(loaded: LoadedConfig): Promise<number> {
  const { renewal } = loaded.config;
  const issuers = renewal.issuers.flatMap((config) =>
    config.type === 'acme' ? [{ name: config.name ?? resolveDirectory(config.directory, renewal.testMode).name, config }] : [],
  );
  const inventory = renewal.issuers.length > 0 ? await new InventoryScanner(loaded.config).scan() : undefined;
  for (const warning of renewalWarnings(loaded.config, inventory)) process.stderr.write(`${warning}\n`);
  if (issuers.length === 0 || !inventory) return 0;
  const plan = challengePlan(issuers, certificateGroups(inventory.domains, renewal.certificates));
  process.stdout.write(plan.lines.length > 0 ? `challenges:\n${plan.lines.map((l) => `  ${l}\n`).join('')}` : 'challenges: no names to renew yet\n');
  for (const problem of plan.problems) process.stderr.write(`${problem}\n`);
  return plan.problems.length > 0 ? 1 : 0;
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`xmpp-cert: ${messageOf(err)}\n`);
  process.exitCode = 1;
});
