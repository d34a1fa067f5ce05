/**
 * readLuaConfig off the event loop: parsing a prosody.cfg.lua of 10,000 VirtualHosts takes ~100 ms
 * (~1 s for 100,000), during which /healthz and /metrics could not answer. One worker thread,
 * started on first use and referenced only while it owes an answer (an idle one never keeps the
 * process alive), parses each file; the
 * sections come back by structured clone. Where no worker can be started (run from TypeScript
 * sources, as under ts-jest, or the worker failed), the file is read in this thread instead.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { readLuaConfig, type LuaConfigFile } from './lua-config';

const SCRIPT = path.join(__dirname, 'lua-config-worker.js');
let worker: Worker | undefined;
let broken = !__filename.endsWith('.js');
let nextId = 0;
const waiting = new Map<number, { resolve: (r: LuaConfigFile) => void; bytes: Buffer }>();

function start(): Worker {
  const w = new Worker(SCRIPT);
  w.on('message', (m: { id: number; result: LuaConfigFile }) => {
    waiting.get(m.id)?.resolve(m.result);
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
  });
  // A failed worker: answer what it still owed in this thread, and stop using threads.
  const fail = () => {
    broken = true;
    worker = undefined;
    for (const [id, w8] of waiting) {
      w8.resolve(readLuaConfig(w8.bytes));
      waiting.delete(id);
    }
  };
  w.on('error', fail);
  w.on('exit', fail);
  return w;
}

export function readLuaConfigOffThread(bytes: Buffer): Promise<LuaConfigFile> {
  if (broken) return Promise.resolve(readLuaConfig(bytes));
  worker ??= start();
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, { resolve, bytes });
    // Referenced only while an answer is owed: an idle worker never keeps the process alive.
    worker!.ref();
    worker!.postMessage({ id, bytes });
  });
}
