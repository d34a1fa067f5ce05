/**
 * An array kept for as long as a scan's results are (one per file, host or certificate), copied
 * to its exact length. An array grown with push keeps spare room: for one to three items V8
 * reserves 17 slots (152 bytes instead of 24-40), which at 10,000 files was ~6 MB
 * (docs/benchmarks.md). Does not copy the items.
 */
export function exact<T>(items: T[]): T[] {
  return items.slice();
}
