/**
 * `xmpp-cert monitor`: one scan (and one round of probes) printed as a Monitoring Plugins check
 * (plugin-output.ts), with check_ssl_cert's options: -H one domain, -w/-c thresholds for every
 * domain, -t a deadline. Anything that keeps the check from running (bad flags or config,
 * thresholds that cannot work, the deadline) is UNKNOWN (3) with the reason on the first line.
 * `--json` prints the JSON report instead.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { thresholdProblems, type LoadedConfig } from '../config';
import { scanOnce } from '../processes/exporter';
import { ConfigError, XmppCertError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import { InventoryScanner } from '../sources/inventory';
import { checksOf, monitorJson, onlyDomain, overallState, pluginOutput, unknownOutput } from './plugin-output';

interface MonitorOptions {
  json?: boolean;
  probe: boolean;
  domain?: string;
  warning?: string;
  critical?: string;
  timeout?: string;
}

export interface MonitorDeps {
  /** Loads the config with these flags (by config key) on top of the global options. */
  load: (flags: Record<string, string | undefined>) => LoadedConfig;
  logger: (loaded: LoadedConfig) => Logger;
}

export function registerMonitor(program: Command, deps: MonitorDeps): void {
  program
    .command('monitor')
    .description('one-shot check as a Nagios/Icinga plugin: status line with perfdata, then a table; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .option('-H, --domain <name>', 'check this one domain (its files and endpoints); watched or not')
    .option('-w, --warning <threshold>', 'warning threshold for every domain: days (14), a duration (36h) or a share of the lifetime (20%)')
    .option('-c, --critical <threshold>', 'critical threshold for every domain, as --warning')
    .option('-t, --timeout <seconds>', 'give up after this long (UNKNOWN); also the timeout of each probe')
    .option('--json', 'print the JSON report instead of the plugin output')
    .option('--no-probe', 'files only: do not connect to the live endpoints')
    // A usage error is UNKNOWN (3) with its reason on stdout, which is what Nagios shows.
    .configureOutput({ outputError: (text) => void process.stdout.write(unknownOutput(text.replace(/^error: /, ''))) })
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : 3);
    })
    .action(async (opts: MonitorOptions) => {
      process.exitCode = await monitor(opts, deps);
    });
}

async function monitor(opts: MonitorOptions, deps: MonitorDeps): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const loaded = loadForCheck(opts, deps);
    const domain = opts.domain?.trim().toLowerCase().replace(/\.$/, '');
    const config = domain && !loaded.config.domains.includes(domain) ? { ...loaded.config, domains: [...loaded.config.domains, domain] } : loaded.config;
    const check = scanOnce(
      new InventoryScanner(config),
      { ...loaded, config },
      deps.logger(loaded),
      opts.probe,
      domain ? (name) => name === domain : undefined,
    );
    const deadline = opts.timeout === undefined ? undefined : config.probes.timeout;
    const timedOut = new Promise<'timeout'>((resolve) => {
      if (deadline !== undefined) timer = setTimeout(() => resolve('timeout'), deadline * 1000);
    });
    const outcome = await Promise.race([check, timedOut]);
    if (outcome === 'timeout') {
      process.stdout.write(unknownOutput(`the check did not finish within ${deadline} s (--timeout)`));
      // Probes still in flight would keep the process alive past the timeout.
      process.exit(3);
    }
    const report = domain ? onlyDomain(outcome, domain) : outcome;
    if (opts.json) {
      process.stdout.write(monitorJson(report));
      return overallState(checksOf(report, config.thresholds));
    }
    const { text, state } = pluginOutput(report, config.thresholds);
    process.stdout.write(text);
    return state;
  } catch (err) {
    process.stdout.write(unknownOutput(err instanceof XmppCertError ? err.message : messageOf(err)));
    return 3;
  } finally {
    clearTimeout(timer);
  }
}

/** The config with -w/-c/-t applied; -w/-c replace every per-domain override too, as a plugin's flags should. */
function loadForCheck(opts: MonitorOptions, deps: MonitorDeps): LoadedConfig {
  const loaded = deps.load({ 'thresholds.warning': opts.warning, 'thresholds.critical': opts.critical, 'probes.timeout': opts.timeout });
  const thresholds = loaded.config.thresholds;
  const overrides = Object.fromEntries(
    Object.entries(thresholds.overrides).map(([name, set]) => {
      const { warning, critical, ...rest } = set;
      return [name, { ...rest, ...(opts.warning ? {} : warning ? { warning } : {}), ...(opts.critical ? {} : critical ? { critical } : {}) }];
    }),
  );
  const config = { ...loaded.config, thresholds: { ...thresholds, overrides } };
  const problems = thresholdProblems(config);
  if (problems.length > 0) {
    const where = loaded.file ? ` (${path.basename(loaded.file)} or the flags)` : '';
    throw new ConfigError(`thresholds cannot work${where}:\n${problems.join('\n')}`, problems);
  }
  return { ...loaded, config };
}
