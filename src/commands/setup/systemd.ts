/**
 * The scheduling half of `xmpp-cert setup`: copies the package's deploy/systemd units into
 * ROOT/etc/systemd/system with the actual command, config file and writable directories filled
 * in, then enables them with systemctl (`daemon-reload` + `enable` on a live system, `systemctl
 * --root=ROOT enable` for a staging root, which needs no running systemd); or prints the cron lines
 * of the previous tooling's schedule. It never starts a unit and never creates users.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { XmppCertError, messageOf } from '../../shared/errors';

export const UNITS = [
  'xmpp-cert-exporter.service',
  'xmpp-cert-worker.service',
  'xmpp-cert-monitor.service',
  'xmpp-cert-monitor.timer',
  'xmpp-cert-renew.service',
  'xmpp-cert-renew.timer',
] as const;
export const SERVICES = ['xmpp-cert-exporter.service', 'xmpp-cert-worker.service'];
export const TIMERS = ['xmpp-cert-monitor.timer', 'xmpp-cert-renew.timer'];

// What the shipped units say; setup replaces these with the operator's values.
const SHIPPED_BINARY = '/usr/bin/xmpp-cert';
const SHIPPED_CONFIG = '/etc/xmpp-cert/xmpp-cert.yml';
const SHIPPED_CERTS = '/etc/prosody/certs';

export interface UnitSettings {
  /** The command that runs xmpp-cert, e.g. ["/usr/bin/xmpp-cert"] or [node, .../dist/cli.js]. */
  exec: string[];
  config: string;
  /** Directories the worker writes besides its state: the certificate directory, a webroot. */
  writable: string[];
}

/** systemd's quoting: double quotes around white space, and `%` doubled (it starts a specifier). */
const unitWord = (word: string) => {
  const escaped = word.replace(/%/g, '%%');
  return /[\s"\\]/.test(escaped) ? `"${escaped.replace(/(["\\])/g, '\\$1')}"` : escaped;
};

export function renderUnit(text: string, settings: UnitSettings): string {
  return text
    .split('\n')
    .map((line) => {
      if (/^Exec[A-Za-z]*=/.test(line) && line.includes(`=${SHIPPED_BINARY} `)) {
        return line
          .replace(`=${SHIPPED_BINARY} `, `=${settings.exec.map(unitWord).join(' ')} `)
          .replace(`--config ${SHIPPED_CONFIG}`, `--config ${unitWord(settings.config)}`);
      }
      if (line === `ReadWritePaths=${SHIPPED_CERTS}`) return `ReadWritePaths=${settings.writable.map(unitWord).join(' ')}`;
      return line;
    })
    .join('\n');
}

export interface InstallOptions {
  /** The package's own directory (holding deploy/systemd). */
  packageDir: string;
  /** Install under this root instead of /, as `systemctl --root` does. */
  root?: string;
  /** Enable the two timers instead of the exporter and worker services. */
  timers: boolean;
  settings: UnitSettings;
  say: (line: string) => void;
}

export function installUnits(options: InstallOptions): void {
  const root = options.root ? path.resolve(options.root) : '/';
  const dir = path.join(root, 'etc/systemd/system');
  for (const unit of UNITS) {
    try {
      const text = fs.readFileSync(path.join(options.packageDir, 'deploy/systemd', unit), 'utf8');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, unit), renderUnit(text, options.settings), { mode: 0o644 });
    } catch (err) {
      throw new XmppCertError(`cannot install ${unit} into ${dir}: ${messageOf(err)} (run setup as root, use --root DIR, or --no-systemd)`, { cause: err });
    }
    options.say(`installed ${path.join(dir, unit)}`);
  }
  const enable = options.timers ? TIMERS : SERVICES;
  if (options.root) {
    // Offline: systemctl --root only creates the .wants/ links; no systemd needs to run.
    if (!hasProgram('systemctl')) {
      options.say(`systemctl not found: enable later with  systemctl --root=${root} enable ${enable.join(' ')}`);
      return;
    }
    systemctl([`--root=${root}`, 'enable', ...enable], options.say);
  } else {
    systemctl(['daemon-reload'], options.say);
    systemctl(['enable', ...enable], options.say);
  }
  options.say(`enabled ${enable.join(' ')}`);
  if (!options.root) options.say(`start them with:  systemctl start ${enable.join(' ')}`);
}

function systemctl(args: string[], say: (line: string) => void): void {
  const run = spawnSync('systemctl', args, { encoding: 'utf8' });
  for (const line of `${run.stdout ?? ''}${run.stderr ?? ''}`.split('\n')) if (line.trim()) say(`  ${line.trim()}`);
  if (run.status !== 0) {
    const why = run.error ? run.error.message : `exit ${run.status}`;
    throw new XmppCertError(`systemctl ${args.join(' ')} failed (${why}); the config and the unit files are written, run it yourself once fixed`);
  }
}

export function hasProgram(name: string): boolean {
  return findOnPath(name) !== undefined;
}

export function findOnPath(name: string, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}

/** `xmpp-cert` from PATH when installed there, else this very node and CLI file. */
export function defaultExec(packageDir: string): string[] {
  const onPath = findOnPath('xmpp-cert');
  return onPath ? [onPath] : [process.execPath, path.join(packageDir, 'dist', 'cli.js')];
}

/** POSIX shell quoting for a cron command line; `%` is escaped because cron turns it into a newline. */
const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`).replace(/%/g, '\\%');

/**
 * The previous tooling's schedule as /etc/cron.d lines: the check hourly, renewal daily, at
 * minutes (and an hour) picked at random here so that many servers do not run at the same time.
 * Each line prints, and so makes cron mail, only when the command fails.
 */
export function cronLines(exec: string[], config: string, user: string, random: () => number = Math.random): string {
  const command = (verb: string) => `out=$(${[...exec, verb, '--config', config].map(shellWord).join(' ')} 2>&1) || echo "$out"`;
  const at = (n: number) => Math.floor(random() * n);
  return [
    "# /etc/cron.d/xmpp-cert: check hourly, renew daily (the previous tooling's schedule).",
    `# Output (and so cron's mail) only when a check finds a problem or a renewal fails.`,
    `# For a user's crontab (crontab -u ${user} -e) leave out the user column.`,
    `${at(60)} * * * * ${user} ${command('monitor')}`,
    `${at(60)} ${at(24)} * * * ${user} ${command('auto-renew')}`,
    '',
  ].join('\n');
}
