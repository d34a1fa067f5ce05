/**
 * The worker-thread side of lua-config-thread.ts: reads one prosody.cfg.lua file's bytes into its
 * sections (lua-config.ts) and posts them back. Nothing else runs here.
 */
import { parentPort } from 'node:worker_threads';
import { readLuaConfig } from './lua-config';

parentPort?.on('message', (message: { id: number; bytes: Uint8Array }) => {
  parentPort!.postMessage({ id: message.id, result: readLuaConfig(Buffer.from(message.bytes)) });
});
