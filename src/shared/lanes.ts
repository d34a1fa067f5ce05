/**
 * A bounded pool: runs `work` over `items` with at most `lanes` calls in flight, taking items in
 * order, and returns the results in item order. Used wherever a list of domains, endpoints or
 * groups may be long: thousands of lookups or probes at once would flood the DNS server and hold
 * a resolver, socket and promise chain per item in memory.
 * It does not catch: `work` is expected to return its failures as data.
 */
export async function inLanes<T, R>(items: readonly T[], lanes: number, work: (item: T) => Promise<R>, stopped: () => boolean = () => false): Promise<R[]> {
  const results: R[] = [];
  let cursor = 0;
  const lane = async () => {
    while (cursor < items.length && !stopped()) {
      const index = cursor++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  // Items never started (stopped) leave holes; filter skips holes, so callers see only what ran.
  return results.filter(() => true);
}
