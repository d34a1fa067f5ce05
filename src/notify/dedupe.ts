/**
 * Dedupe: an event is a repeat when the last event accepted for its domain had the same
 * signature (type, and reason for failures) less than `interval` seconds ago. A repeat is not
 * queued and does not move the clock, so a lasting failure is sent again once per interval as a
 * reminder; anything new (another reason, a success, a fallback) goes out at once. Pure.
 */
import { signature, type NotifyEvent } from './events';

export interface LastEvent {
  signature: string;
  at: number;
}

export function isRepeat(last: LastEvent | undefined, event: NotifyEvent, now: number, interval: number): boolean {
  return last !== undefined && last.signature === signature(event) && now - last.at < interval;
}
