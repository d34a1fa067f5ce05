/**
 * Installs in progress in this process: from the swap of the pair until the reload that tells
 * Prosody about it has returned. The shutdown deadline (cli.ts) waits for them, so an install is
 * never cut short between the swap and the reload; everything else (orders, waits, verification)
 * stops on the worker's abort signal instead. Counts only; decides nothing.
 */
let count = 0;

/** Marks an install as started; the returned function ends it (calling it again does nothing). */
export function installStarted(): () => void {
  count++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    count--;
  };
}

export const installing = (): boolean => count > 0;
