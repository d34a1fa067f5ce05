#!/usr/bin/env node
/**
 * The `xmpp-cert` command line: commander wiring only. Each action loads the config, calls the
 * layer that does the work and maps the outcome to an exit code. Config errors exit 1 with the
 * message naming the key.
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Command, Option } from 'commander';
import { registerDashboard } from './commands/dashboard';
import { registerNotify } from './commands/notify';
import { monitorExitCode, monitorJson, monitorTable } from './commands/monitor';
import { printStep, renewExitCode, renewSummary } from './commands/renew';
import { registerSetup } from './commands/setup';
import { loadConfig, displayConfig, type LoadedConfig } from './config';
import { statusJson } from './evaluate';
import { Exporter, scanOnce } from './processes/exporter';
import { ConfigError, DiscoveryError, XmppCertError, messageOf } from './shared/errors';
import { loadProsodyConfig } from './discovery';
import { createLogger, type Logger } from './shared/log';
import { VERSION } from './shared/version';
import { InventoryScanner } from './sources/inventory';
import YAML from 'yaml';

interface GlobalOptions {
  config?: string;
  legacyConf?: string;
  listen?: string;
  webConfigFile?: string;
  logLevel?: string;
}

const program = new Command()
  .name('xmpp-cert')
  .description('Certificate monitoring (Prometheus exporter) and renewal for XMPP (Prosody) servers')
  .version(VERSION)
  .addOption(new Option('-c, --config <file>', 'YAML config file').env('XMPP_CERT_CONFIG'))
  .option('--legacy-conf <file>', "the previous tooling's cert-monitor.conf (KEY=VALUE lines)")
  .option('--log-level <level>', 'override logging.level')
  .showHelpAfterError();

function load(extraFlags: Record<string, string | undefined> = {}): LoadedConfig {
  const opts = program.opts<GlobalOptions>();
  return loadConfig({ file: opts.config, legacyConf: opts.legacyConf, flags: { 'logging.level': opts.logLevel, ...extraFlags } });
}

/** Runs an action; known errors print their message (no stack) and exit 1. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.stderr.write(`xmpp-cert: ${err instanceof XmppCertError ? err.message : ((err as Error).stack ?? messageOf(err))}\n`);
      process.exitCode = 1;
    }
  };
}

/**
 * V8 favours size: in the worker from the start (it answers no HTTP), in serve and run only after
 * the first scan. Set before it, V8 ran "reduce" mark-compacts back to back through the cold scan:
 * 10,000 hosts took 17.3 s instead of 3.6 s, with event-loop pauses up to 471 ms instead of 87 ms
 * (/healthz must answer within 100 ms during a scan). Set after it, the heap shrinks back
 * (docs/benchmarks.md: RSS after scrapes).
 */
function favourMemory(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

/** One full garbage collection now, so the heap the cold scan grew is given back at once. */
function compactNow(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** However stop() is blocked (a hung mount, a stuck install step), the process is gone within 10 s of SIGTERM. */
const SHUTDOWN_DEADLINE_MS = 9_000;

/** SIGTERM/SIGINT: stop what runs (an install in progress finishes first), then exit. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  const shutdown = (signal: string) => {
    log.info(`${signal}: shutting down`);
    setTimeout(() => {
      log.error(`${signal}: still stopping after ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting now`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** The renewal worker; loaded only by the verbs that renew (acme-client, @peculiar/x509). */
async function createWorker(loaded: LoadedConfig, log: Logger, options: import('./processes/worker').WorkerOptions = {}) {
  const { Worker } = await import('./processes/worker');
  return new Worker(loaded, log, options);
}

async function serve(flags: { listen?: string; webConfigFile?: string }, withWorker: boolean): Promise<void> {
  const serverFlags = { 'server.listen': flags.listen, 'server.webConfig': flags.webConfigFile };
  const loaded = load(serverFlags);
  const log = createLogger(loaded.config.logging.level);
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
  onShutdown(log, async () => {
    await worker?.stop();
    await exporter.stop();
  });
  await worker?.start();
}

const serverOptions = (cmd: Command) =>
  cmd.option('--listen <host:port>', 'override server.listen').option('--web.config.file <file>', "exporter-toolkit's web-config.yml (TLS, basic auth)");

serverOptions(program.command('serve').description('run the Prometheus exporter (never writes certificates)')).action(
  action(async (opts: Record<string, string>) => serve({ listen: opts.listen, webConfigFile: opts['web.config.file'] }, false)),
);

serverOptions(program.command('run').description('exporter and renewal worker in one process')).action(
  action(async (opts: Record<string, string>) => serve({ listen: opts.listen, webConfigFile: opts['web.config.file'] }, true)),
);

program
  .command('worker')
  .description('the renewal sidecar: renews due certificates on a schedule, installs them, reloads Prosody, verifies')
  .action(
    action(async () => {
      favourMemory();
      const loaded = load();
      const log = createLogger(loaded.config.logging.level);
      const worker = await createWorker(loaded, log);
      onShutdown(log, () => worker.stop());
      await worker.start();
    }),
  );

program
  .command('auto-renew')
  .description('one shot: renew every certificate that is due; exit 1 if any renewal failed')
  .action(
    action(async () => {
      const loaded = load();
      const worker = await createWorker(loaded, createLogger(loaded.config.logging.level, 2), { step: printStep });
      try {
        const outcomes = await worker.check();
        process.stdout.write(renewSummary(outcomes));
        return renewExitCode(outcomes);
      } finally {
        await worker.stop();
      }
    }),
  );

program
  .command('renew <domain>')
  .description("renew the certificate holding DOMAIN (with renewal.retry's attempts); exit 1 if it failed")
  .option('--force', 'renew even when not due, and ignore a pending Retry-After or backoff')
  .option('--issuer <name>', 'use only this issuer from renewal.issuers (no fallback)')
  .action(
    action(async (domain: string, opts: { force?: boolean; issuer?: string }) => {
      const loaded = load();
      const worker = await createWorker(loaded, createLogger(loaded.config.logging.level, 2), { step: printStep });
      try {
        const outcome = await worker.renewDomain(domain.toLowerCase(), {
          ...(opts.force ? { force: true } : {}),
          ...(opts.issuer ? { issuer: opts.issuer } : {}),
        });
        process.stdout.write(renewSummary([outcome]));
        return renewExitCode([outcome]);
      } finally {
        await worker.stop();
      }
    }),
  );

program
  .command('monitor')
  .description('one-shot check: table of domains; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
  .option('--json', 'print the JSON report instead of the table')
  .option('--no-probe', 'files only: do not connect to the live endpoints')
  .action(
    action(async (opts: { json?: boolean; probe: boolean }) => {
      const loaded = load();
      const report = await scanOnce(new InventoryScanner(loaded.config), loaded, createLogger(loaded.config.logging.level, 2), opts.probe);
      process.stdout.write(opts.json ? monitorJson(report) : monitorTable(report));
      return monitorExitCode(report);
    }),
  );

program
  .command('status')
  .description('write the JSON report (as /status serves it)')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .option('--no-probe', 'files only: do not connect to the live endpoints')
  .action(
    action(async (opts: { output?: string; probe: boolean }) => {
      const loaded = load();
      const report = await scanOnce(new InventoryScanner(loaded.config), loaded, createLogger(loaded.config.logging.level, 2), opts.probe);
      const text = JSON.stringify(statusJson(report), null, 2) + '\n';
      if (opts.output) fs.writeFileSync(opts.output, text);
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
  .description('validate the configuration; exit 0 when valid, 1 otherwise')
  .action(
    action(async () => {
      try {
        const loaded = load();
        const prosody = loaded.config.prosody.config;
        // prosody.cfg.lua is part of the configuration: unreadable or not valid Lua fails the check; Include problems warn.
        if (prosody) {
          const cfg = await loadProsodyConfig(prosody);
          for (const warning of cfg.warnings) process.stderr.write(`warning: ${warning}\n`);
        }
        process.stdout.write(`configuration OK${loaded.file ? `: ${loaded.file}` : ' (defaults and environment)'}${prosody ? `; ${prosody}` : ''}\n`);
        return 0;
      } catch (err) {
        if (!(err instanceof ConfigError) && !(err instanceof DiscoveryError)) throw err;
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
    }),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`xmpp-cert: ${messageOf(err)}\n`);
  process.exitCode = 1;
});
