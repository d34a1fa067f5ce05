/**
 * The worker's own schedule against a real Pebble issuing 20-second certificates: the check at
 * start-up issues the missing one, then the worker wakes at the group's renewal point (50% of the
 * lifetime, long before the daily check) and renews again, without anyone asking. stop() returns
 * with nothing left half-done: no temp file, no lock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/shared/log';
import { Worker } from '../../src/processes/worker';
import type { WorkerState } from '../../src/state/state-types';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { waitFor } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'the worker schedules each group by its renewal point', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  beforeAll(async () => {
    pebble = await startPebble({ certificateValidityPeriod: 20 });
  });
  afterAll(() => pebble?.stop());

  test('issues at start-up, then renews at 50% of a 20 s lifetime by itself', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-schedule-'));
    const certs = path.join(root, 'certs');
    const file = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(
      file,
      JSON.stringify({
        prosody: { config: null, certs },
        domains: ['a.example.test', 'b.example.test'],
        probes: { enabled: false },
        thresholds: { renewal: '50%' },
        renewal: {
          stateDir: path.join(root, 'state'),
          checkInterval: '1d',
          jitter: 0,
          retry: { count: 1 },
          concurrency: 2,
          issuers: [
            { type: 'acme', directory: pebble.directoryUrl, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` } },
          ],
        },
      }),
    );
    fs.mkdirSync(certs);
    const steps: string[] = [];
    const worker = new Worker(loadConfig({ file }), createLogger(process.env.XCE_DEBUG ? 'debug' : 'silent', 2), {
      step: (g, text) => {
        steps.push(`${g.name}: ${text}`);
        if (process.env.XCE_DEBUG) process.stderr.write(`STEP ${g.name}: ${text}\n`);
      },
    });
    const state = (): WorkerState => JSON.parse(fs.readFileSync(path.join(root, 'state', 'state.json'), 'utf8'));
    try {
      await worker.start();
      expect(state().groups['a.example.test']?.successes).toBe(1);
      expect(steps).toContain('a.example.test: due: no certificate');
      await waitFor(
        () => ['a.example.test', 'b.example.test'].every((g) => (state().groups[g]?.successes ?? 0) >= 2),
        30_000,
        'a second renewal of both groups',
      );
      expect(steps.some((s) => /^a\.example\.test: due: past the renewal point/.test(s))).toBe(true);
      expect(state().heartbeat).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(state()).toMatchObject({ heartbeatMode: 'service', heartbeatInterval: 60 });
    } finally {
      await worker.stop();
    }
    const leftovers = fs.readdirSync(certs).filter((n) => n.includes('tmp'));
    expect(leftovers).toEqual([]);
    expect(
      fs.existsSync(path.join(root, 'state', 'locks')) ? fs.readdirSync(path.join(root, 'state', 'locks')).filter((n) => n.endsWith('.lock')) : [],
    ).toEqual([]);
  });
});
