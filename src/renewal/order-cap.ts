/**
 * `renewal.maxOrdersPerHour`: how many new orders one ACME account (keyed by its directory URL, as
 * the account keys are) may start within any hour. The start times of the last hour's orders are in
 * state.json (`orders`), so the worker service and one-shot `renew` / `auto-renew` runs share one
 * count. reserve() takes a slot under the state lock; when none is free it says until when, and
 * the caller waits for that time instead of ordering (the group is "held back", visibly).
 * Does not decide whether a group is due.
 */
import type { Logger } from '../shared/log';
import { readState, updateState } from '../state/state';

const HOUR = 3600;

export class OrderSlots {
  constructor(
    private readonly stateDir: string,
    private readonly max: number,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Until when the account has no free slot; undefined when one is free. Takes nothing. */
  async fullUntil(account: string): Promise<number | undefined> {
    const { state } = await readState(this.stateDir);
    return this.untilFree(state.orders?.[account] ?? []);
  }

  /** Takes a slot (undefined), or answers until when none is free. */
  async reserve(account: string): Promise<number | undefined> {
    let full: number | undefined;
    await updateState(
      this.stateDir,
      (s) => {
        const orders = (s.orders ??= {});
        const recent = (orders[account] ?? []).filter((t) => t > this.now() - HOUR);
        full = this.untilFree(recent);
        if (full === undefined) recent.push(this.now());
        orders[account] = recent;
      },
      this.log,
    );
    return full;
  }

  private untilFree(times: readonly number[]): number | undefined {
    const recent = times.filter((t) => t > this.now() - HOUR).sort((a, b) => a - b);
    if (recent.length < this.max) return undefined;
    return recent[recent.length - this.max]! + HOUR;
  }
}
