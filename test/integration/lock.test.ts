/**
 * Group locks between real processes (node children running the built dist/state/lock.js; the
 * pretest step builds it): one holds, another reports busy or waits; a SIGKILLed holder's lock is
 * taken over once stale; a live holder past the stale time is not robbed. In-process: a lost
 * (compromised) lock is logged and aborts the holder's signal instead of crashing. No mocks.
 * Short stale times (2 s) keep this quick; the defaults are checked against the 30 s promise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { GROUP_LOCK, withGroupLock, type LockTimings } from '../../src/state/lock';
import { createLogger } from '../../src/shared/log';

const DIST = path.resolve(__dirname, '../../dist/state/lock.js');
const FAST: LockTimings = { staleMs: 2000, updateMs: 500, pollMinMs: 50, pollMaxMs: 200 };

/** argv: stateDir group mode(hold|try|wait) holdMs; prints "locked <ms>", "released <ms>", "busy". */
const CHILD = `
const { withGroupLock, tryGroupLock } = require(${JSON.stringify(DIST)});
const [stateDir, group, mode, holdMs] = process.argv.slice(1);
const timings = ${JSON.stringify(FAST)};
const hold = async () => {
  console.log('locked ' + Date.now());
  await new Promise((r) => setTimeout(r, Number(holdMs)));
  console.log('released ' + Date.now());
};
(mode === 'try' ? tryGroupLock(stateDir, group, hold, undefined, timings) : withGroupLock(stateDir, group, hold, undefined, timings))
  .then((r) => { if (r && r.status === 'busy') console.log('busy'); });
`;

interface Child {
  proc: ChildProcess;
  lines: string[];
  line(prefix: string, ms?: number): Promise<number>;
  exited: Promise<number | null>;
}

const children: Child[] = [];

function start(stateDir: string, mode: 'hold' | 'try' | 'wait', holdMs = 0): Child {
  const proc = spawn(process.execPath, ['-e', CHILD, stateDir, 'example.org', mode, String(holdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  proc.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const line = async (prefix: string, ms = 10_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => l.startsWith(prefix));
      if (hit) return Number(hit.split(' ')[1] ?? 0);
      if (Date.now() > deadline) throw new Error(`no "${prefix}" line within ${ms} ms; saw ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const child = { proc, lines, line, exited };
  children.push(child);
  return child;
}

let stateDir: string;

beforeAll(() => {
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run "npm run build" first (npm test does)`);
});

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-lock-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('one process holds the group; another reports busy at once, a third waits until it is free', async () => {
  const holder = start(stateDir, 'hold', 1500);
  await holder.line('locked');
  expect(fs.existsSync(path.join(stateDir, 'locks', 'example.org.lock'))).toBe(true);
  const busy = start(stateDir, 'try', 0);
  await busy.line('busy');
  const waiter = start(stateDir, 'wait', 0);
  const released = await holder.line('released');
  const locked = await waiter.line('locked');
  expect(locked).toBeGreaterThanOrEqual(released);
  expect(await waiter.exited).toBe(0);
});

test('a SIGKILLed holder: its lock goes stale and a waiter takes it over', async () => {
  const holder = start(stateDir, 'hold', 600_000);
  await holder.line('locked');
  const waiter = start(stateDir, 'wait', 0);
  await new Promise((r) => setTimeout(r, 300));
  expect(waiter.lines).toEqual([]); // still waiting while the holder lives
  const killedAt = Date.now();
  holder.proc.kill('SIGKILL');
  const locked = await waiter.line('locked', 8000);
  // Stale after FAST.staleMs without a refresh; the last refresh was up to updateMs before the kill.
  expect(locked - killedAt).toBeLessThan(FAST.staleMs + FAST.pollMaxMs + 1000);
});

test('a live holder past the stale time keeps its lock (the refresh keeps it fresh)', async () => {
  const holder = start(stateDir, 'hold', 4000);
  await holder.line('locked');
  await new Promise((r) => setTimeout(r, FAST.staleMs + 1000));
  const late = start(stateDir, 'try', 0);
  await late.line('busy');
  await holder.line('released', 5000);
});

test("the default timings take a killed worker's lock over within 30 s and refresh 4 times per stale period", () => {
  expect(GROUP_LOCK.staleMs + GROUP_LOCK.pollMaxMs).toBeLessThanOrEqual(30_000);
  expect(GROUP_LOCK.staleMs / GROUP_LOCK.updateMs).toBeGreaterThanOrEqual(4);
});

test('a lock lost while held is logged and aborts the signal; the process does not crash', async () => {
  const lines: string[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write: (chunk, _enc, done) => {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  const lockDir = path.join(stateDir, 'locks', 'example.org.lock');
  const aborted = await withGroupLock(
    stateDir,
    'example.org',
    async (signal) => {
      fs.rmSync(lockDir, { recursive: true }); // someone removes the lock under us
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return signal.aborted;
    },
    log,
    FAST,
  );
  expect(aborted).toBe(true);
  expect(lines.join('')).toMatch(/the lock .*example\.org\.lock was lost while held/);
});

test('a group name that is not a file name is refused', async () => {
  await expect(withGroupLock(stateDir, '../x', async () => 1)).rejects.toThrow(/cannot name a lock/);
});
