/**
 * `xmpp-cert setup`: writes a config from flags or from questions (defaults read from an existing
 * prosody.cfg.lua), checks it with the same loadConfig every command uses before anything is
 * written, then installs the systemd units where systemd runs (or under --root), else prints cron
 * lines. It never overwrites a config without --force, never starts a service and never creates
 * users or changes permissions (it says what to do instead).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { effectiveCertsDir, enabledHosts, loadProsodyConfig, type ProsodyConfig } from '../discovery';
import { ConfigError, XmppCertError, messageOf } from '../shared/errors';
import { CHALLENGE_SYNTAX, FLAG_FOR_KEY, challengeText, parseChallenge, renderConfig, type Answers, type Challenge } from './setup/answers';
import { createPrompter, type Prompter } from './setup/prompt';
import { LOGROTATE_FILE, installLogrotate } from './setup/logrotate';
import { cronLines, defaultExec, installUnits } from './setup/systemd';

interface SetupFlags {
  domain: string[];
  email?: string;
  certsDir?: string;
  prosodyConfig?: string;
  challenge?: string;
  staging?: boolean;
  pidfile?: string;
  output: string;
  yes?: boolean;
  force?: boolean;
  root?: string;
  systemd: boolean;
  timers?: boolean;
  exec?: string;
}

const DEFAULT_PROSODY_CONFIG = '/etc/prosody/prosody.cfg.lua';
const DEFAULT_PIDFILE = '/run/prosody/prosody.pid';
/** The worker units run as Prosody's user (deploy/systemd/xmpp-cert-worker.service says why). */
const WORKER_USER = 'prosody';
const PACKAGE_DIR = path.resolve(__dirname, '..', '..');

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description('write a config (from flags or questions), then install the systemd units, or print cron lines without systemd')
    .option('--domain <name>', "a domain to watch besides prosody.cfg.lua's hosts (repeatable)", (v: string, all: string[]) => [...all, v], [])
    .option('--email <address>', 'ACME account e-mail')
    .option('--certs-dir <dir>', "Prosody's certificate directory (default: from prosody.cfg.lua)")
    .option('--prosody-config <file>', `prosody.cfg.lua, or "none" (default: ${DEFAULT_PROSODY_CONFIG} when it exists)`)
    .option('--challenge <how>', `how names are proven: ${CHALLENGE_SYNTAX} (default: http-01)`)
    .option('--staging', "use Let's Encrypt staging (test certificates)")
    .option('--pidfile <file>', `Prosody's pidfile, sent SIGHUP after each install, or "none" (default: ${DEFAULT_PIDFILE})`)
    .option('-o, --output <file>', 'where to write the config', '/etc/xmpp-cert/xmpp-cert.yml')
    .option('-y, --yes', 'ask nothing: use the flags and the defaults')
    .option('--force', 'overwrite an existing config file')
    .option('--root <dir>', 'install the units under DIR (like systemctl --root), e.g. for packaging')
    .option('--no-systemd', 'install no units; print cron lines instead')
    .option('--timers', 'enable the hourly check and daily renewal timers instead of the exporter and worker services')
    .option('--exec <command>', 'the xmpp-cert command the units and cron lines run (default: xmpp-cert on PATH, else this node and CLI)')
    .action(async (flags: SetupFlags) => {
      try {
        await setup(flags);
      } catch (err) {
        process.stderr.write(`xmpp-cert setup: ${err instanceof XmppCertError ? err.message : ((err as Error).stack ?? messageOf(err))}\n`);
        process.exitCode = 1;
      }
    });
}

async function setup(flags: SetupFlags): Promise<void> {
  const output = path.resolve(flags.output);
  if (fs.existsSync(output) && !flags.force) throw new ConfigError(`${output} exists; not overwriting it (--force to replace it, --output for another file)`);
  const prompter = flags.yes ? undefined : createPrompter(process.stdin, process.stdout);
  try {
    const { answers, certsDir } = await collectAnswers(flags, prompter);
    const text = renderConfig(answers, output);
    checkConfig(text);
    if (prompter) {
      process.stdout.write(`\n${text}\n`);
      if (!(await prompter.yesNo(`Write this to ${output}?`, true))) {
        process.stdout.write('nothing written\n');
        return;
      }
    }
    writeConfig(output, text, flags.force === true);
    process.stdout.write(`wrote ${output}\n`);
    schedule(flags, output, certsDir, answers.challenge);
  } finally {
    prompter?.close();
  }
}

/** Flags first; a value without a flag is asked (interactive) or defaulted (--yes). */
async function collectAnswers(flags: SetupFlags, ask: Prompter | undefined): Promise<{ answers: Answers; certsDir: string }> {
  const prosody = await prosodyConfigAnswer(flags, ask);
  const discovered = prosody
    ? enabledHosts(prosody)
        .map((h) => h.name)
        .filter((n) => !n.includes('*'))
    : [];
  if (prosody) process.stdout.write(`${prosody.path}: ${discovered.length ? discovered.join(', ') : 'no enabled hosts'}\n`);
  for (const warning of prosody?.warnings ?? []) process.stdout.write(`warning: ${warning}\n`);

  let domains = flags.domain.map((d) => d.trim().toLowerCase()).filter(Boolean);
  if (domains.length === 0 && ask) {
    const list = await ask.ask('Domains to watch (comma-separated)', discovered.join(', '), (a) =>
      splitList(a).length || discovered.length ? undefined : 'at least one domain',
    );
    domains = splitList(list.toLowerCase());
  }
  const extra = [...new Set(domains)].filter((d) => !discovered.includes(d));
  if (!prosody && extra.length === 0) throw new ConfigError('--domain: at least one domain is needed when there is no prosody.cfg.lua');

  // Without prosody.cfg.lua nothing else says where the certificates are: always written then.
  const defaultCerts = prosody ? effectiveCertsDir(prosody) : '/etc/prosody/certs';
  const certsAnswer = flags.certsDir ?? (ask ? await ask.ask('Certificate directory', defaultCerts) : defaultCerts);
  const certsDir = path.resolve(certsAnswer);

  const email = flags.email ?? (ask ? await ask.ask('E-mail for the ACME account (empty: none)', '') : undefined);
  const challenge = await challengeAnswer(flags, ask);
  const staging =
    flags.staging ?? (ask && challenge.type !== 'selfsigned' ? await ask.yesNo("Use Let's Encrypt staging (test certificates) first?", false) : false);
  const pidfileAnswer =
    flags.pidfile ?? (ask ? await ask.ask("Prosody's pidfile, signalled after an install (none: no reload)", DEFAULT_PIDFILE) : DEFAULT_PIDFILE);

  const answers: Answers = {
    prosodyConfig: prosody?.path ?? null,
    domains: extra,
    ...(!prosody || certsDir !== defaultCerts || flags.certsDir ? { certsDir } : {}),
    ...(email ? { email } : {}),
    challenge,
    staging,
    pidfile: pidfileAnswer === 'none' ? null : path.resolve(pidfileAnswer),
  };
  return { answers, certsDir };
}

async function prosodyConfigAnswer(flags: SetupFlags, ask: Prompter | undefined): Promise<ProsodyConfig | undefined> {
  const read = async (answer: string) => (answer === 'none' ? undefined : loadProsodyConfig(path.resolve(answer)));
  if (flags.prosodyConfig !== undefined) {
    try {
      return await read(flags.prosodyConfig);
    } catch (err) {
      throw new ConfigError(`--prosody-config: ${messageOf(err)}`, undefined, { cause: err });
    }
  }
  const fallback = fs.existsSync(DEFAULT_PROSODY_CONFIG) ? DEFAULT_PROSODY_CONFIG : 'none';
  if (!ask) return read(fallback);
  for (;;) {
    const answer = await ask.ask('prosody.cfg.lua (none: watch listed domains only)', fallback);
    try {
      return await read(answer);
    } catch (err) {
      process.stdout.write(`  ${messageOf(err)}\n`);
    }
  }
}

async function challengeAnswer(flags: SetupFlags, ask: Prompter | undefined): Promise<Challenge> {
  const text = flags.challenge ?? (ask ? await ask.ask(`How to prove the names: ${CHALLENGE_SYNTAX}`, 'http-01', problemOf(parseChallenge)) : 'http-01');
  const challenge = parseChallenge(text);
  // A relative webroot would be taken relative to the config file's directory: make it absolute here.
  return challenge.type === 'http-01' && 'webroot' in challenge ? { ...challenge, webroot: path.resolve(challenge.webroot) } : challenge;
}

const problemOf = (parse: (text: string) => unknown) => (text: string) => {
  try {
    parse(text);
    return undefined;
  } catch (err) {
    return messageOf(err);
  }
};

const splitList = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** Validates with the real loader, on a copy in a temp directory, so a bad answer writes nothing. */
function checkConfig(text: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xmpp-cert-setup-'));
  try {
    const file = path.join(dir, 'xmpp-cert.yml');
    fs.writeFileSync(file, text);
    loadConfig({ file, env: {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const issues = err.issues.map((issue) => {
      const flag = FLAG_FOR_KEY.find(([key]) => issue.startsWith(key))?.[1];
      return flag ? `${issue} (${flag})` : issue;
    });
    throw new ConfigError(`these answers do not make a valid config; nothing was written:\n  ${issues.join('\n  ')}`, issues, { cause: err });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Temp file + rename; without --force a link, which fails instead of replacing a file that appeared meanwhile. */
function writeConfig(output: string, text: string, force: boolean): void {
  const temp = `${output}.tmp-${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.writeFileSync(temp, text, { mode: 0o644 });
    if (force) fs.renameSync(temp, output);
    else fs.linkSync(temp, output);
  } catch (err) {
    throw new ConfigError(`cannot write ${output}: ${messageOf(err)} (run setup as root, or choose --output)`, undefined, { cause: err });
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function schedule(flags: SetupFlags, output: string, certsDir: string, challenge: Challenge): void {
  const exec = flags.exec ? splitList(flags.exec) : defaultExec(PACKAGE_DIR);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const systemdRuns = fs.existsSync('/run/systemd/system');
  if (!flags.systemd || (!flags.root && !systemdRuns)) {
    if (flags.systemd) say('systemd is not running here: run these from cron instead');
    process.stdout.write(cronLines(exec, output, WORKER_USER));
    say(`# for an alert log (logging.alertLog) under /var/log/xmpp-cert: cp ${path.join(PACKAGE_DIR, LOGROTATE_FILE)} /etc/logrotate.d/`);
    return;
  }
  const webroot = challenge.type === 'http-01' && 'webroot' in challenge ? [challenge.webroot] : [];
  installUnits({
    packageDir: PACKAGE_DIR,
    ...(flags.root ? { root: flags.root } : {}),
    timers: flags.timers === true,
    settings: { exec, config: output, writable: [certsDir, ...webroot] },
    say,
  });
  installLogrotate(PACKAGE_DIR, flags.root, say);
  say(`note: the worker runs as ${WORKER_USER}; it must be able to write ${certsDir} (Debian: chmod g+w ${certsDir})`);
  if (challenge.type !== 'selfsigned') say(`note: renewals use ${challengeText(challenge)}; see docs/deploy.md for what each needs`);
}
