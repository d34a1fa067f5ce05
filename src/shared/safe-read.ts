/**
 * Reads a file that must be a regular file of bounded size, refusing FIFOs, sockets, devices and
 * directories by type and anything over the size limit, before a byte is read. Opened with
 * O_NONBLOCK so that even opening a FIFO never waits for a writer (a plain open would block the
 * whole process, and with it SIGTERM). Reads at most maxBytes + 1 bytes, so a file that grows while
 * it is read, or a /proc file that reports size 0, cannot make it endless. Used for the exporter's
 * own config, the legacy conf, prosody.cfg.lua and its Includes, certificate and key files.
 */
import fs from 'node:fs';
import { RefusedFileError, type RefusedKind } from './errors';

export { RefusedFileError, type RefusedKind } from './errors';

const FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (fs.constants.O_NOCTTY ?? 0);

export function kindOfStat(stat: fs.Stats): RefusedKind | 'file' {
  if (stat.isFile()) return 'file';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'device';
  if (stat.isDirectory()) return 'directory';
  return 'special';
}

const KIND_WORDS: Record<RefusedKind, string> = {
  fifo: 'a FIFO (named pipe)',
  socket: 'a socket',
  device: 'a device',
  directory: 'a directory',
  special: 'not a regular file',
};

export function readRegularFile(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, FLAGS);
  try {
    const stat = fs.fstatSync(fd);
    const kind = kindOfStat(stat);
    if (kind !== 'file') throw new RefusedFileError(`${file} is ${KIND_WORDS[kind]}, not a regular file; refused without reading it`, file, kind);
    if (stat.size > maxBytes) throw tooLarge(file, stat.size, maxBytes);
    return readAtMost(fd, file, maxBytes);
  } finally {
    fs.closeSync(fd);
  }
}

function readAtMost(fd: number, file: string, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    total += n;
    if (total > maxBytes) throw tooLarge(file, total, maxBytes);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(file: string, size: number, maxBytes: number): RefusedFileError {
  return new RefusedFileError(`${file} is over ${maxBytes} bytes (at least ${size}); refused`, file, 'too_large');
}
