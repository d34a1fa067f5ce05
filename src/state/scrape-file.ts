/**
 * Reading a small JSON file the worker writes (state.json, notify.json) from the exporter at
 * scrape time: one open + fstat per scrape, and a parse only when the file changed (a new inode
 * after each atomic write, or a new size/mtime); until then the same result object is returned.
 * Never writes, moves or throws.
 */
import fs from 'node:fs';
import { messageOf } from '../shared/errors';

export interface ScrapeResults<R> {
  /** The file's text as a result (a corrupt text included: `parse` says so in R). */
  parse(text: string, file: string): R;
  /** No file yet (no worker has written it). */
  missing(): R;
  unreadable(error: string): R;
}

export function cachedFileReader<R>(results: ScrapeResults<R>): (file: string) => R {
  const cache = new Map<string, { key: string; result: R }>();
  return (file) => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return results.missing();
      return results.unreadable(`cannot read ${file}: ${messageOf(err)}`);
    }
    try {
      const stat = fs.fstatSync(fd);
      const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      const cached = cache.get(file);
      if (cached?.key === key) return cached.result;
      const result = results.parse(fs.readFileSync(fd, 'utf8'), file);
      cache.set(file, { key, result });
      return result;
    } catch (err) {
      return results.unreadable(`cannot read ${file}: ${messageOf(err)}`);
    } finally {
      fs.closeSync(fd);
    }
  };
}
