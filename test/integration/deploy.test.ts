/**
 * The deployment files, checked by the programs that will read them (no Docker engine exists here,
 * so nothing is built or run in a container):
 * - Dockerfile: read with a small line parser (stages, user, entrypoint, copies that exist).
 * - docker-compose.yml: `docker-compose config -q` (Debian's docker-compose 1.29 validates without an
 *   engine), then its normalised output is checked for the promises the pieces make to each other
 *   (volumes ro/rw, the shared pid namespace, the pidfile path, the http-01 port, the config path).
 * - The compose stack's Prosody config and xmpp-cert config on a real Prosody 0.12: the worker
 *   installs a certificate, sends SIGHUP through the pidfile and sees it served; the compose
 *   healthcheck commands run against the real worker state and exporter. Container paths and ports
 *   are mapped to a temp directory and free ports; nothing else in the files is changed.
 * - deploy/systemd: `systemd-analyze verify` (on copies whose ExecStart binary is a stub script,
 *   because verify insists the binary exists) and `systemd-analyze security --offline`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadProsodyConfig, enabledHosts, effectiveCertsDir } from '../../src/discovery';
import { CLI, runCli, startCli, waitFor } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-deploy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const COMPOSE_CONFIG = 'deploy/compose/xmpp-cert.yml';
const PROSODY_CONFIG = 'deploy/prosody/prosody.cfg.lua';
/** The parts of deploy/compose/xmpp-cert.yml the tests read or map to temp paths. */
interface StackConfig {
  prosody: { config: string };
  probes: { endpoints: Array<{ domain: string; host: string; port: number }> };
  server: { listen: string };
  renewal: { stateDir: string; issuers: Array<{ type: string; challenge?: { listen: string } }>; reload: { pidfile: string }; verify?: object };
}
const composeConfig = () => YAML.parse(read(COMPOSE_CONFIG)) as StackConfig;
/** The shipped config with its commented-out ACME issuer switched on, as docs/deploy.md tells. */
const withAcme = () => read(COMPOSE_CONFIG).replace(/^(\s*)# (- type: acme| {2}# | {2}challenge:)/gm, '$1$2');

// ---- Dockerfile ------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped, split into stages at FROM. */
function dockerfileStages(text: string): Instruction[][] {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Instruction[][] = [];
  for (const line of joined) {
    const [op, ...rest] = line.split(/\s+/);
    const instruction = { op: op!.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') stages.push([]);
    if (instruction.op !== 'ARG' || stages.length > 0) stages[stages.length - 1]!.push(instruction);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerfileStages(read('Dockerfile'));
  const final = stages[stages.length - 1]!;
  const all = (op: string) => final.filter((i) => i.op === op).map((i) => i.args);

  test('two stages on node:20-bookworm-slim: build with dev dependencies, run without them', () => {
    expect(stages.map((s) => s[0]!.args)).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim']);
    const build = stages[0]!.map((i) => i.args).join('\n');
    expect(build).toMatch(/^npm ci\b/m);
    expect(build).toMatch(/^npm run build$/m);
    expect(JSON.parse(read('package.json')).scripts.build).toBeDefined();
    expect(all('RUN').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(all('COPY')).toContain('--from=build /src/dist ./dist');
  });

  test('runs as the non-root user 10522, with the entrypoint, command, port, volume and health check', () => {
    const users = all('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).toBe('10522:10522');
    expect(all('RUN').join('\n')).toMatch(/useradd --system --uid 10522 --gid 10522 .*xmpp-cert/);
    expect(JSON.parse(all('ENTRYPOINT')[0]!)).toEqual(['node', '/app/dist/cli.js']);
    expect(JSON.parse(all('CMD')[0]!)).toEqual(['serve', '--config', '/etc/xmpp-cert/xmpp-cert.yml']);
    expect(all('EXPOSE')).toEqual(['10522']);
    expect(JSON.parse(all('VOLUME')[0]!)).toEqual(['/var/lib/xmpp-cert']);
    expect(all('HEALTHCHECK')[0]).toMatch(/CMD \["node", "-e", ".*\/healthz/);
  });

  test('every file it copies exists and is not excluded by .dockerignore', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = stages.flatMap((s) => s.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1)));
    expect(sources).toEqual(expect.arrayContaining(['src', 'examples', 'deploy', 'deploy/compose/xmpp-cert.yml']));
    for (const source of sources) {
      expect([source, fs.existsSync(path.join(ROOT, source))]).toEqual([source, true]);
      expect(ignored.filter((pattern) => source === pattern || source.startsWith(`${pattern}/`))).toEqual([]);
    }
  });

  test("Prosody's image runs Prosody under the same uid as ours", () => {
    const prosody = read('deploy/prosody/Dockerfile');
    expect(prosody).toMatch(/groupmod --gid 10522 prosody/);
    expect(prosody).toMatch(/usermod --uid 10522 --gid 10522 prosody/);
  });
});

// ---- docker-compose.yml ----------------------------------------------------------------------

/** `docker-compose` in a clean environment: a developer's .env or exported variables must not count. */
function compose(args: string[]) {
  const envFile = path.join(tmp, 'empty.env');
  fs.writeFileSync(envFile, '');
  return spawnSync('docker-compose', ['--env-file', envFile, '-f', path.join(ROOT, 'docker-compose.yml'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp },
    timeout: 30_000,
  });
}

/** A service as `docker-compose config` prints it (the keys the tests look at). */
interface ComposeService {
  image?: string;
  build?: { context: string };
  command?: string[];
  restart?: string;
  healthcheck?: { test: string[] };
  volumes: string[];
  ports?: Array<string | { published: number; target: number }>;
  pid?: string;
  cap_drop?: string[];
  read_only?: boolean;
}

interface Mount {
  source: string;
  target: string;
  mode: string;
}

describeWithTools(['docker-compose'], 'docker-compose.yml', () => {
  let services: Record<string, ComposeService>;
  let volumes: Record<string, unknown>;
  const mounts = (service: string): Mount[] =>
    services[service]!.volumes.map((v) => {
      const [source, target, mode] = v.split(':') as [string, string, string];
      return { source, target, mode };
    });
  const mountAt = (service: string, target: string) => mounts(service).find((m) => m.target === target);

  beforeAll(() => {
    const run = compose(['config']);
    if (run.status !== 0) throw new Error(`docker-compose config failed:\n${run.stderr}`);
    ({ services, volumes } = YAML.parse(run.stdout) as { services: typeof services; volumes: typeof volumes });
  });

  test('docker-compose config -q accepts it with the defaults (no .env, no variables)', () => {
    const run = compose(['config', '-q']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('the six services, each with a health check and restart: unless-stopped', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'exporter', 'grafana', 'prometheus', 'prosody', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.restart]).toEqual([name, 'unless-stopped']);
      expect([name, service.healthcheck?.test?.[0]]).toEqual([name, 'CMD']);
      if (service.image && !service.build) expect(service.image).toMatch(/:v?\d+\.\d+(\.\d+)?$/); // pinned, never :latest
    }
  });

  test('exporter and worker: one image built here, serve and worker with the mounted config', () => {
    for (const [name, verb] of [
      ['exporter', 'serve'],
      ['worker', 'worker'],
    ] as const) {
      const service = services[name]!;
      expect(service.build?.context).toBe(ROOT);
      expect(service.image).toBe(services.exporter!.image);
      expect(service.command).toEqual([verb, '--config', '/etc/xmpp-cert/xmpp-cert.yml']);
      expect(mountAt(name, '/etc/xmpp-cert/xmpp-cert.yml')).toEqual({
        source: path.join(ROOT, COMPOSE_CONFIG),
        target: '/etc/xmpp-cert/xmpp-cert.yml',
        mode: 'ro',
      });
      expect(mountAt(name, '/etc/prosody/prosody.cfg.lua')).toEqual({
        source: path.join(ROOT, PROSODY_CONFIG),
        target: '/etc/prosody/prosody.cfg.lua',
        mode: 'ro',
      });
      expect(service.cap_drop).toEqual(['ALL']);
      expect(service.read_only).toBe(true);
    }
    expect(mountAt('prosody', '/etc/prosody/prosody.cfg.lua')?.source).toBe(path.join(ROOT, PROSODY_CONFIG));
  });

  test('shared volumes: certificates written by the worker only, state written by the worker and read by the exporter', async () => {
    const config = composeConfig();
    const prosody = await loadProsodyConfig(path.join(ROOT, PROSODY_CONFIG));
    // Prosody resolves `certificates` against its config's directory: /etc/prosody in every container.
    const certsInContainer = path.posix.join('/etc/prosody', path.relative(path.join(ROOT, 'deploy/prosody'), effectiveCertsDir(prosody)));
    expect(mountAt('prosody', certsInContainer)).toMatchObject({ source: 'certs', mode: 'ro' });
    expect(mountAt('exporter', certsInContainer)).toMatchObject({ source: 'certs', mode: 'ro' });
    expect(mountAt('worker', certsInContainer)).toMatchObject({ source: 'certs', mode: 'rw' });
    expect(mountAt('exporter', config.renewal.stateDir)).toMatchObject({ source: 'state', mode: 'ro' });
    expect(mountAt('worker', config.renewal.stateDir)).toMatchObject({ source: 'state', mode: 'rw' });
    for (const name of ['certs', 'state', 'prosody-data', 'prosody-run', 'prometheus-data', 'alertmanager-data', 'grafana-data'])
      expect(volumes).toHaveProperty([name]);
  });

  test("reload: the worker shares Prosody's pid namespace and reads the pidfile Prosody writes", () => {
    const pidfile: string = composeConfig().renewal.reload.pidfile;
    expect(read(PROSODY_CONFIG)).toContain(`pidfile = "${pidfile}"`);
    expect(read(PROSODY_CONFIG)).toMatch(/^\s*"posix";/m); // mod_posix writes it and handles SIGHUP
    expect(services.worker!.pid).toBe('service:prosody');
    expect(mountAt('prosody', path.posix.dirname(pidfile))).toMatchObject({ source: 'prosody-run', mode: 'rw' });
    expect(mountAt('worker', path.posix.dirname(pidfile))).toMatchObject({ source: 'prosody-run', mode: 'ro' });
  });

  test('the http-01 port the worker listens on (once the ACME issuer is on) is published', () => {
    const listen = (YAML.parse(withAcme()) as StackConfig).renewal.issuers[0]!.challenge!.listen;
    const port = Number(listen.split(':').pop());
    const published = (services.worker!.ports ?? []).map((p) =>
      typeof p === 'string' ? { published: Number(p.split(':').slice(-2)[0]), target: Number(p.split(':').pop()!.split('/')[0]) } : p,
    );
    expect(published).toContainEqual({ published: 80, target: port });
  });

  test('prometheus, alertmanager and grafana read the bundle files from their fixed places', () => {
    expect(services.prometheus!.command).toEqual(
      expect.arrayContaining(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=30d']),
    );
    expect(mountAt('prometheus', '/etc/prometheus/prometheus.yml')?.source).toBe(path.join(ROOT, 'prometheus/prometheus.yml'));
    expect(mountAt('prometheus', '/etc/prometheus/rules')?.source).toBe(path.join(ROOT, 'prometheus/rules'));
    expect(mountAt('prometheus', '/prometheus')?.source).toBe('prometheus-data');
    expect(services.alertmanager!.command).toEqual(
      expect.arrayContaining(['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager']),
    );
    expect(mountAt('alertmanager', '/etc/alertmanager/alertmanager.yml')?.source).toBe(path.join(ROOT, 'alertmanager/alertmanager.yml'));
    expect(mountAt('alertmanager', '/etc/alertmanager/templates')?.source).toBe(path.join(ROOT, 'alertmanager/templates'));
    expect(mountAt('grafana', '/etc/grafana/provisioning')?.source).toBe(path.join(ROOT, 'grafana/provisioning'));
    expect(mountAt('grafana', '/var/lib/grafana/dashboards')?.source).toBe(path.join(ROOT, 'grafana/dashboards'));
  });

  test("the bundle's configs reach the services by their compose names and ports", () => {
    const exporterPort = Number(composeConfig().server.listen.split(':').pop());
    expect(services.exporter!.ports).toContainEqual(`127.0.0.1:${exporterPort}:${exporterPort}/tcp`);
    const prometheus = read('prometheus/prometheus.yml');
    expect(prometheus).toContain(`exporter:${exporterPort}`);
    expect(prometheus).toContain('alertmanager:9093');
    expect(services.alertmanager!.ports).toContainEqual('127.0.0.1:9093:9093/tcp');
    expect(read('grafana/provisioning/datasources/prometheus.yml')).toMatch(/url: http:\/\/prometheus:9090\n/);
    expect(services.prometheus!.ports).toContainEqual('127.0.0.1:9090:9090/tcp');
    expect(read('grafana/provisioning/dashboards/xmpp-cert.yml')).toContain(`path: ${mountAt('grafana', '/var/lib/grafana/dashboards')!.target}\n`);
  });

  test('every file or directory mounted from the repository exists', () => {
    const missing = Object.keys(services)
      .flatMap((name) => mounts(name).map((m) => m.source))
      .filter((source) => source.startsWith('/') && !fs.existsSync(source));
    expect(missing).toEqual([]);
  });
});

// ---- the stack's configs, against each other and a real Prosody -------------------------------

describe('the compose stack configs', () => {
  test('deploy/compose/xmpp-cert.yml passes config check as shipped and with the ACME issuer switched on', () => {
    const acme = path.join(tmp, 'with-acme.yml');
    fs.writeFileSync(acme, withAcme());
    expect((YAML.parse(withAcme()) as StackConfig).renewal.issuers.map((i) => i.type)).toEqual(['acme', 'selfsigned']);
    for (const file of [path.join(ROOT, COMPOSE_CONFIG), acme]) {
      const run = runCli(['config', 'check', '--config', file]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    }
  });

  test('the probed endpoints are hosts of the Prosody config', async () => {
    const hosts = enabledHosts(await loadProsodyConfig(path.join(ROOT, PROSODY_CONFIG))).map((h) => h.name);
    for (const endpoint of composeConfig().probes.endpoints as Array<{ domain: string }>) expect(hosts).toContain(endpoint.domain);
  });
});

describeWithTools(['prosody', 'prosodyctl'], 'the compose configs on a real Prosody 0.12', () => {
  jest.setTimeout(60_000);
  const dir = path.join(tmp, 'stack');
  let prosody: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let prosodyOut = '';
  let workerOut = '';
  const ports = { c2s: 0, s2s: 0 };
  const stateFile = () => path.join(dir, 'state', 'state.json');

  /** A compose healthcheck's `node -e` script, with the container path or URL in it swapped for ours. */
  function healthcheck(service: string, from: string, to: string): number | null {
    const compose = YAML.parse(read('docker-compose.yml')) as { services: Record<string, { healthcheck: { test: string[] } }> };
    const test = compose.services[service]!.healthcheck.test;
    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(test[3]).toContain(from);
    return spawnSync(process.execPath, ['-e', test[3]!.replace(from, to)], { timeout: 10_000 }).status;
  }

  beforeAll(async () => {
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'certs'));
    ports.c2s = await freePort();
    ports.s2s = await freePort();
    const composePidfile: string = composeConfig().renewal.reload.pidfile;
    // Only what a container provides differently: ports, paths, loopback, root in a test machine.
    const header = [
      `c2s_ports = { ${ports.c2s} }`,
      `s2s_ports = { ${ports.s2s} }`,
      'c2s_direct_tls_ports = { }',
      'interfaces = { "127.0.0.1" }',
      `data_path = "${path.join(dir, 'data')}"`,
      process.getuid?.() === 0 ? 'run_as_root = true' : '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prosody.cfg.lua'), `${header}\n${read(PROSODY_CONFIG).replace(composePidfile, path.join(dir, 'prosody.pid'))}`);

    const config = composeConfig();
    config.prosody.config = path.join(dir, 'prosody.cfg.lua');
    config.renewal.stateDir = path.join(dir, 'state');
    config.renewal.reload.pidfile = path.join(dir, 'prosody.pid');
    config.renewal.verify = { timeout: '20s' };
    config.server.listen = '127.0.0.1:0';
    for (const endpoint of config.probes.endpoints) Object.assign(endpoint, { host: '127.0.0.1', port: endpoint.port === 5222 ? ports.c2s : ports.s2s });
    fs.writeFileSync(path.join(dir, 'xmpp-cert.yml'), YAML.stringify(config));

    prosody = spawn('prosody', ['-F', '--config', path.join(dir, 'prosody.cfg.lua')], { stdio: ['ignore', 'pipe', 'pipe'] });
    prosody.stdout!.on('data', (d: Buffer) => (prosodyOut += d.toString()));
    prosody.stderr!.on('data', (d: Buffer) => (prosodyOut += d.toString()));
    await waitFor(
      () => fs.existsSync(path.join(dir, 'prosody.pid')) && fs.readFileSync(path.join(dir, 'prosody.pid'), 'utf8').trim(),
      15_000,
      `Prosody's pidfile\n${prosodyOut}`,
    );
  });

  afterAll(async () => {
    for (const child of [worker, prosody]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test("prosodyctl check config accepts the stack's prosody.cfg.lua as shipped", () => {
    const run = spawnSync('prosodyctl', ['--config', path.join(ROOT, PROSODY_CONFIG), 'check', 'config'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stdout).toContain('All checks passed');
    expect(run.status).toBe(0);
  });

  test('Prosody writes its own pid to the pidfile the worker signals', () => {
    expect(Number(fs.readFileSync(path.join(dir, 'prosody.pid'), 'utf8'))).toBe(prosody!.pid);
  });

  test('the worker installs a certificate, reloads Prosody through the pidfile and sees it served; its health check passes', async () => {
    worker = spawn(process.execPath, [CLI, 'worker', '--config', path.join(dir, 'xmpp-cert.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stdout!.on('data', (d: Buffer) => (workerOut += d.toString()));
    worker.stderr!.on('data', (d: Buffer) => (workerOut += d.toString()));
    const group = await waitFor(
      () => {
        if (!fs.existsSync(stateFile())) return undefined;
        const state = JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as {
          groups: Record<string, { verify?: { result: string }; successes: number; lastAttempt?: number }>;
        };
        // The install (with its verify result) and the run's outcome are two state writes: wait for the outcome.
        const g = state.groups.localhost;
        return g?.verify && g.lastAttempt !== undefined && g;
      },
      30_000,
      `the worker's first renewal\n${workerOut}\n${prosodyOut}`,
    );
    expect(group.successes).toBe(1);
    expect(group.verify!.result).toBe('served');
    expect(fs.lstatSync(path.join(dir, 'certs', 'localhost')).isSymbolicLink()).toBe(true);
    expect(prosodyOut).toMatch(/Received SIGHUP/);
    expect(healthcheck('worker', '/var/lib/xmpp-cert/state.json', stateFile())).toBe(0);
  });

  test("the worker's health check fails on a stale heartbeat or a missing state file", () => {
    const stale = path.join(dir, 'stale.json');
    fs.writeFileSync(stale, JSON.stringify({ version: 1, heartbeat: Date.now() / 1000 - 600, groups: {} }));
    expect(healthcheck('worker', '/var/lib/xmpp-cert/state.json', stale)).toBe(1);
    expect(healthcheck('worker', '/var/lib/xmpp-cert/state.json', path.join(dir, 'none.json'))).toBe(1);
  });

  test("the exporter's health check (the Dockerfile's too) passes against a real exporter, fails when it is gone", async () => {
    const dockerfileCheck = dockerfileStages(read('Dockerfile'))
      .pop()!
      .find((i) => i.op === 'HEALTHCHECK')!.args;
    const compose = YAML.parse(read('docker-compose.yml')) as { services: { exporter: { healthcheck: { test: string[] } } } };
    expect(JSON.parse(dockerfileCheck.slice(dockerfileCheck.indexOf('CMD ') + 4))).toEqual(compose.services.exporter.healthcheck.test.slice(1));
    const exporter = await startCli(['serve', '--config', path.join(dir, 'xmpp-cert.yml')]);
    try {
      expect(healthcheck('exporter', 'http://127.0.0.1:10522', exporter.url)).toBe(0);
    } finally {
      await exporter.stop();
    }
    expect(healthcheck('exporter', 'http://127.0.0.1:10522', exporter.url)).toBe(1);
  });
});

// ---- systemd units ---------------------------------------------------------------------------

const UNIT_DIR = path.join(ROOT, 'deploy/systemd');
const unitFiles = () =>
  fs
    .readdirSync(UNIT_DIR)
    .filter((f) => /\.(service|timer)$/.test(f))
    .sort();
const unit = (name: string) => fs.readFileSync(path.join(UNIT_DIR, name), 'utf8');
const setting = (text: string, key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

describeWithTools(['systemd-analyze'], 'deploy/systemd units', () => {
  const copies = path.join(tmp, 'units');

  beforeAll(() => {
    // systemd-analyze verify refuses an ExecStart binary that does not exist; /usr/bin/xmpp-cert is
    // not installed here, so the copies point at a stub script. Nothing else is changed.
    fs.mkdirSync(copies, { recursive: true });
    const stub = path.join(copies, 'xmpp-cert-stub');
    fs.writeFileSync(stub, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    for (const file of unitFiles()) fs.writeFileSync(path.join(copies, file), unit(file).replaceAll('/usr/bin/xmpp-cert ', `${stub} `));
  });

  test('the exporter, worker and timer variant units exist', () => {
    expect(unitFiles()).toEqual([
      'xmpp-cert-exporter.service',
      'xmpp-cert-monitor.service',
      'xmpp-cert-monitor.timer',
      'xmpp-cert-renew.service',
      'xmpp-cert-renew.timer',
      'xmpp-cert-worker.service',
    ]);
  });

  test('systemd-analyze verify: no error and no warning (unknown keys, bad values, missing binaries)', () => {
    const run = spawnSync('systemd-analyze', ['verify', '--man=no', ...unitFiles().map((f) => `./${f}`)], { cwd: copies, encoding: 'utf8', timeout: 30_000 });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('systemd-analyze security --offline rates every service OK or better (exposure below 3)', () => {
    for (const file of unitFiles().filter((f) => f.endsWith('.service'))) {
      const run = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', `./${file}`], { cwd: copies, encoding: 'utf8', timeout: 30_000 });
      const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(run.stdout)?.[1];
      expect([file, exposure !== undefined && Number(exposure) < 3]).toEqual([file, true]);
    }
  });

  test('hardening: read-only system, no new privileges; a capability only where port 80 is bound', () => {
    for (const file of unitFiles().filter((f) => f.endsWith('.service'))) {
      const text = unit(file);
      for (const [key, value] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'yes'],
        ['PrivateTmp', 'yes'],
        ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
        ['SystemCallFilter', '@system-service'],
        ['ProtectKernelTunables', 'yes'],
        ['ProtectKernelModules', 'yes'],
      ]) {
        expect([file, key, setting(text, key!)]).toEqual([file, key, [value]]);
      }
      const renews = /^ExecStart=\S+ (worker|auto-renew) /m.test(text);
      expect([file, setting(text, 'CapabilityBoundingSet')]).toEqual([file, [renews ? 'CAP_NET_BIND_SERVICE' : '']]);
      expect([file, setting(text, 'AmbientCapabilities')]).toEqual([file, renews ? ['CAP_NET_BIND_SERVICE'] : []]);
      // Only the renewing units write, and only the certificate directory and their state.
      expect([file, setting(text, 'ReadWritePaths')]).toEqual([file, renews ? ['/etc/prosody/certs'] : []]);
      expect([file, setting(text, 'User')]).toEqual([file, [renews ? 'prosody' : 'xmpp-cert']]);
    }
    expect(setting(unit('xmpp-cert-exporter.service'), 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
  });

  test("timers: the seed's schedule, hourly check and daily renewal, spread and caught up after downtime", () => {
    const monitor = unit('xmpp-cert-monitor.timer');
    const renew = unit('xmpp-cert-renew.timer');
    expect(setting(monitor, 'OnCalendar')).toEqual(['hourly']);
    expect(setting(renew, 'OnCalendar')).toEqual(['daily']);
    for (const timer of [monitor, renew]) {
      expect(setting(timer, 'Persistent')).toEqual(['true']);
      expect(setting(timer, 'RandomizedDelaySec')).toHaveLength(1);
    }
    expect(setting(unit('xmpp-cert-monitor.service'), 'ExecStart')[0]).toMatch(/ monitor --config /);
    expect(setting(unit('xmpp-cert-renew.service'), 'ExecStart')[0]).toMatch(/ auto-renew --config /);
  });
});
