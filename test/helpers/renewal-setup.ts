/**
 * One renewal scenario against a real Pebble and a real Prosody shared by a test file: a config
 * (its own state directory; Prosody's certificate directory; the group's names watched through
 * `domains`; c2s endpoints on Prosody for verify; reload by SIGHUP through Prosody's pidfile unless
 * given), an in-process Worker collecting its steps, the state file, what Prosody serves now, and
 * the built CLI run with the same config. Each scenario uses names of its own, declared as
 * VirtualHosts of the shared Prosody.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { Worker } from '../../src/processes/worker';
import { createLogger } from '../../src/shared/log';
import { probeEndpoint } from '../../src/sources/probe';
import type { GroupState, WorkerState } from '../../src/state/state-types';
import type { RunningPebble } from './pebble';
import { CLI, cleanEnv } from './process';
import type { RunningProsody } from './prosody-server';

/** The parts of the config a test edits. */
export interface ScenarioConfig {
  probes: { ca?: string[]; endpoints: Array<Record<string, unknown>>; [key: string]: unknown };
  logging: { level: string };
  renewal: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Scenario {
  root: string;
  file: string;
  stateDir: string;
  steps: string[];
  worker(env?: Record<string, string>): Worker;
  state(): WorkerState;
  group(name: string): GroupState;
  /** The serial Prosody serves for `domain` over c2s (upper-case hex), or undefined. */
  served(domain: string): Promise<string | undefined>;
  /** The serial of certs/<name>/fullchain.pem. */
  onDisk(name: string): string | undefined;
  /** Changes the config file (the next worker or CLI run reads it). */
  edit(change: (config: ScenarioConfig) => void): void;
  cli(args: string[], env?: Record<string, string>): Promise<{ code: number | null; out: string }>;
}

export function acmeIssuer(pebble: RunningPebble, extra: Record<string, unknown> = {}, directory = pebble.directoryUrl): Record<string, unknown> {
  return { type: 'acme', directory, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` }, ...extra };
}

export function scenario(
  pebble: RunningPebble,
  prosody: RunningProsody,
  domains: string[],
  renewal: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): Scenario {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-scenario-'));
  const stateDir = path.join(root, 'state');
  const file = path.join(root, 'xmpp-cert.yml');
  const config: ScenarioConfig = {
    prosody: { config: null, certs: prosody.certs },
    domains,
    probes: {
      srv: false,
      timeout: '3s',
      endpoints: domains.map((domain) => ({ domain, host: '127.0.0.1', port: prosody.ports.c2s, service: 'c2s' })),
    },
    logging: { level: 'warn' },
    renewal: {
      stateDir,
      jitter: 0,
      retry: { count: 1, delay: 0 },
      backoff: { initial: '1s', max: '2s' },
      issuers: [acmeIssuer(pebble)],
      reload: { signal: 'HUP', pidfile: path.join(prosody.dir, 'prosody.pid') },
      verify: { timeout: '10s' },
      ...renewal,
    },
    ...top,
  };
  const write = () => fs.writeFileSync(file, JSON.stringify(config));
  write();
  const steps: string[] = [];
  const state = (): WorkerState => JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8'));
  return {
    root,
    file,
    stateDir,
    steps,
    worker: (env = {}) =>
      new Worker(loadConfig({ file, env }), createLogger(process.env.XCE_DEBUG ? 'debug' : 'silent', 2), {
        step: (g, text) => {
          steps.push(`${g.name}: ${text}`);
          if (process.env.XCE_DEBUG) process.stderr.write(`STEP ${g.name}: ${text}\n`);
        },
      }),
    state,
    group: (name) => state().groups[name]!,
    served: (domain) => servedSerial(prosody, domain),
    onDisk: (name) => {
      const pem = fs.readFileSync(path.join(prosody.certs, name, 'fullchain.pem'), { encoding: 'utf8', flag: 'r' });
      return new crypto.X509Certificate(pem).serialNumber;
    },
    edit: (change) => {
      change(config);
      write();
    },
    cli: (args, env = {}) => cliRun([...args, '--config', file], env),
  };
}

/** The serial Prosody serves for `domain` (upper-case hex) over c2s, or s2s (for a Component); undefined when none. */
export async function servedSerial(prosody: RunningProsody, domain: string, module: 'c2s' | 's2s' = 'c2s'): Promise<string | undefined> {
  const port = module === 's2s' ? prosody.ports.s2s : prosody.ports.c2s;
  const result = await probeEndpoint({ domain, host: '127.0.0.1', port, module }, { timeoutMs: 3000 });
  return result.ok && result.chain[0] ? new crypto.X509Certificate(result.chain[0]).serialNumber : undefined;
}

/**
 * A scenario on Prosody's own prosody.cfg.lua (so the worker sees its ssl tables and every host)
 * renewing only the group `name` (renewal.certificates), trusting the `ca` files; `components`
 * are verified over s2s. `issuers` default: Pebble.
 */
export function groupScenario(
  pebble: RunningPebble,
  prosody: RunningProsody,
  group: { name: string; domains: string[]; ca: string[]; issuers?: unknown[]; components?: ReadonlySet<string> },
): Scenario {
  const { name, domains, issuers, components } = group;
  const s = scenario(pebble, prosody, domains, { certificates: [{ name, domains }], ...(issuers ? { issuers } : {}) }, { prosody: { config: prosody.config } });
  s.edit((c) => {
    c.probes.ca = group.ca;
    c.probes.endpoints = domains.map((domain) =>
      components?.has(domain)
        ? { domain, host: '127.0.0.1', port: prosody.ports.s2s, service: 's2s' }
        : { domain, host: '127.0.0.1', port: prosody.ports.c2s, service: 'c2s' },
    );
  });
  return s;
}

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The built CLI as a child process (for signals). */
export function cliStart(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** The built CLI run to its end: its exit code and everything it printed. */
export async function cliRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const run = cliStart(args, env);
  const { code } = await run.exited;
  return { code, out: run.output() };
}

/** Runs a worker's check (or anything) and stops it afterwards. */
export async function withWorker<T>(worker: Worker, run: (w: Worker) => Promise<T>): Promise<T> {
  try {
    return await run(worker);
  } finally {
    await worker.stop();
  }
}
