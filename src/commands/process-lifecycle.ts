/**
 * The process around a long-running or one-shot verb: how V8 is told to favour memory, and how
 * SIGTERM/SIGINT end it (stop what runs, exit within a deadline, but never in the middle of an
 * install). Used by cli.ts only; knows nothing of what the verbs do.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from '../shared/log';

/**
 * V8 favours size: in the worker from the start (it answers no HTTP), in serve and run only after
 * the first scan. Set before it, V8 ran "reduce" mark-compacts back to back through the cold scan:
 * 10,000 hosts took 17.3 s instead of 3.6 s, with event-loop pauses up to 471 ms instead of 87 ms
 * (/healthz must answer within 100 ms during a scan). Set after it, the heap shrinks back
 * (docs/benchmarks.md: RSS after scrapes).
 */
export function favourMemory(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

/** One full garbage collection now, so the heap the cold scan grew is given back at once. */
export function compactNow(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** However stop() is blocked (a hung mount, a DNS lookup, an SMTP server), the process is gone within 10 s of SIGTERM... */
const SHUTDOWN_DEADLINE_MS = 9_000;

/**
 * ... unless an install is between its swap and its reload (renewal/in-flight.ts): an install is
 * never cut short, so the deadline waits for it, then exits. `say` reports why (a log line, or
 * stderr for the one-shot verbs). Notifications still queued stay in the outbox for the next start.
 */
export function exitAfterDeadline(signal: string, installing: () => boolean, say: (text: string) => void): void {
  let waited = false;
  const force = () => {
    if (installing()) {
      if (!waited) say(`${signal}: an install is running; exiting once it has finished with its reload`);
      waited = true;
      setTimeout(force, 250).unref();
      return;
    }
    say(`${signal}: still stopping after ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting now`);
    process.exit(1);
  };
  setTimeout(force, SHUTDOWN_DEADLINE_MS).unref();
}

/** SIGTERM/SIGINT: stop what runs (an install in progress finishes first), then exit. */
export function onShutdown(log: Logger, stop: () => Promise<void>, installing: () => boolean = () => false): void {
  const shutdown = (signal: string) => {
    log.info(`${signal}: shutting down`);
    exitAfterDeadline(signal, installing, (text) => log.error(text));
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
