/**
 * bcrypt checks on worker threads, never on the event loop: one check costs ~55 ms at cost 10 by
 * design, and inline it stalled every request behind it (authorised scrapes waited 5-23 s behind
 * a stream of wrong passwords). A small pool (one thread per spare core, at most two) takes checks
 * through a BoundedQueue keyed by client address, so a flood is refused at once and one client's
 * backlog does not hold up another's first check. Threads start on demand and stop after a minute
 * idle; they never keep the process alive. A thread that dies fails its check (the caller answers
 * 503) and is replaced on the next one.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { BoundedQueue, type QueueLimits, type Refusal } from './bounded-queue';

/** The thread's whole program: compare, answer, wait for the next. Any bad input is a mismatch. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(require.resolve('bcryptjs'))});
parentPort.on('message', ({ password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage(ok);
});
`;

const IDLE_MS = 60_000;

const defaultPoolLimits = (): QueueLimits => ({
  concurrency: Math.min(2, Math.max(1, os.availableParallelism() - 1)),
  queue: 256,
  perKey: 64,
});

export class BcryptPool {
  private readonly queue: BoundedQueue;
  private readonly idle: Array<{ worker: Worker; timer: NodeJS.Timeout }> = [];

  constructor(limits: QueueLimits = defaultPoolLimits()) {
    this.queue = new BoundedQueue(limits);
  }

  /** The verdict of bcrypt for (password, hash), or why the check was refused. */
  compare(client: string, password: string, hash: string, abandoned: () => boolean): Promise<boolean> | Refusal {
    return this.queue.submit(client, () => this.onWorker(password, hash), abandoned);
  }

  private async onWorker(password: string, hash: string): Promise<boolean> {
    const worker = this.takeWorker();
    const ok = await new Promise<boolean>((resolve, reject) => {
      const settle = (fn: () => void) => {
        worker.off('message', answer).off('error', fail).off('exit', exited);
        fn();
      };
      const answer = (value: unknown) => settle(() => resolve(value === true));
      const fail = (err: Error) => settle(() => reject(err));
      const exited = (code: number) => settle(() => reject(new Error(`the bcrypt thread exited (code ${code})`)));
      worker.on('message', answer).on('error', fail).on('exit', exited);
      worker.postMessage({ password, hash });
    });
    this.release(worker);
    return ok;
  }

  private takeWorker(): Worker {
    const parked = this.idle.pop();
    if (parked) {
      clearTimeout(parked.timer);
      return parked.worker;
    }
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    return worker;
  }

  private release(worker: Worker): void {
    const timer = setTimeout(() => {
      this.idle.splice(
        this.idle.findIndex((p) => p.worker === worker),
        1,
      );
      void worker.terminate();
    }, IDLE_MS);
    timer.unref();
    this.idle.push({ worker, timer });
  }
}
