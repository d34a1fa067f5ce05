/**
 * Admission for costly work that callers can ask for faster than it gets done (bcrypt checks,
 * /probe requests): at most `concurrency` tasks run, at most `queue` wait, and at most `perKey` of
 * those from one key (a client address). Waiting tasks are taken round-robin across keys, so a
 * client that floods the queue delays another client by one task per turn, not by its whole
 * backlog. Anything beyond the limits is refused at once, for the caller to answer 429 or 503;
 * nothing waits unbounded. A waiting task whose caller has gone (`abandoned()`) is dropped unrun.
 * It does not catch: a task's failure is its caller's.
 */

export interface QueueLimits {
  concurrency: number;
  queue: number;
  /** Waiting tasks one key may hold; default: the whole queue. */
  perKey?: number;
}

/** Why a task was not taken: the whole queue is full (503), or this key's share of it (429). */
export type Refusal = 'queue_full' | 'key_full';

/** The task was dropped unrun because its caller had gone; there is nobody to answer. */
export class AbandonedError extends Error {
  constructor() {
    super('the caller went away while waiting');
  }
}

interface Waiting {
  start: () => void;
  abandoned: () => boolean;
  drop: () => void;
}

export class BoundedQueue {
  private running = 0;
  private waitingCount = 0;
  /** Key -> its waiting tasks; Map order is the round-robin order. */
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(private limits: QueueLimits) {}

  /** New limits (a config reload); tasks running or waiting keep their place. */
  setLimits(limits: QueueLimits): void {
    this.limits = limits;
    this.pump();
  }

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waitingCount };
  }

  /** Runs `task` now or when its turn comes; a Refusal when the queue has no room for it. */
  submit<T>(key: string, task: () => Promise<T>, abandoned: () => boolean = () => false): Promise<T> | Refusal {
    if (this.running < this.limits.concurrency && this.waitingCount === 0) return this.run(task);
    const mine = this.waiting.get(key) ?? [];
    if (this.waitingCount >= this.limits.queue) return 'queue_full';
    if (mine.length >= (this.limits.perKey ?? this.limits.queue)) return 'key_full';
    return new Promise<T>((resolve, reject) => {
      mine.push({ start: () => void this.run(task).then(resolve, reject), abandoned, drop: () => reject(new AbandonedError()) });
      this.waiting.set(key, mine);
      this.waitingCount++;
    });
  }

  private run<T>(task: () => Promise<T>): Promise<T> {
    this.running++;
    const done = () => {
      this.running--;
      this.pump();
    };
    let result: Promise<T>;
    try {
      result = task();
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    result.then(done, done);
    return result;
  }

  /** Starts waiting tasks while there is room, one key at a time in turn. */
  private pump(): void {
    while (this.running < this.limits.concurrency && this.waitingCount > 0) {
      const [key, list] = this.waiting.entries().next().value as [string, Waiting[]];
      const next = list.shift()!;
      this.waitingCount--;
      this.waiting.delete(key);
      if (list.length > 0) this.waiting.set(key, list); // to the back of the round
      if (next.abandoned()) next.drop();
      else next.start();
    }
  }
}
