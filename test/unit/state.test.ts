/**
 * The worker state file on real files in a temp directory: round trip, a corrupt file moved aside
 * with a warning, the exporter's cached scrape read, and updates under the lock. No mocks, except
 * one injected FsOps whose rename fails (ENOSPC), marked where it is used.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realOps } from '../../src/state/durable-fs';
import { StateError, readState, readStateForScrape, updateState, writeState } from '../../src/state/state';
import { emptyGroupState, emptyState, type WorkerState } from '../../src/state/state-types';

let root: string;
let dir: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-state-'));
  dir = path.join(root, 'var', 'xmpp-cert');
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const file = () => path.join(dir, 'state.json');

function sample(): WorkerState {
  const group = {
    ...emptyGroupState(['example.org', 'conference.example.org']),
    successes: 2,
    failures: { rate_limited: 1 },
    lastReason: 'rate_limited' as const,
    lastAttempt: 1_750_000_000,
    verify: { result: 'served' as const, at: 1_750_000_100 },
  };
  return { ...emptyState(), heartbeat: 1_750_000_200, groups: { 'example.org': group } };
}

describe('readState / writeState', () => {
  test('round trip; the directory is created 0750 and the file is 0640', async () => {
    await writeState(dir, sample());
    expect(await readState(dir)).toEqual({ state: sample() });
    expect(fs.statSync(dir).mode & 0o777).toBe(0o750);
    expect(fs.statSync(file()).mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  test('a missing file is an empty state, without a warning', async () => {
    expect(await readState(dir)).toEqual({ state: emptyState() });
  });

  test.each([
    ['bad JSON', '{"version": 1, "groups": {'],
    ['another version', JSON.stringify({ version: 2, groups: {} })],
    ['a wrong shape', JSON.stringify({ version: 1, groups: { 'example.org': { ...emptyGroupState(['example.org']), successes: 'three' } } })],
    ['an empty file', ''],
  ])('%s: read as empty and left alone; the first update keeps it as state.json.corrupt-<time>, once', async (_what, text) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file(), text);
    const read = await readState(dir);
    expect(read.state).toEqual(emptyState());
    expect(read.corrupt?.error).toEqual(expect.any(String));
    expect(fs.readFileSync(file(), 'utf8')).toBe(text); // a read never moves or writes
    // Several updates at once (groups of one worker): one keeps the file aside, none fails.
    const updates = await Promise.all([1, 2, 3].map((n) => updateState(dir, (s) => void (s.groups[`g${n}`] = emptyGroupState([`g${n}`])))));
    expect(updates.filter((u) => u.warning)).toHaveLength(1);
    expect(updates.find((u) => u.warning)!.warning).toMatch(
      /the state file .*state\.json is corrupt \(.+\); kept it as .*state\.json\.corrupt-\d{4}-\d\d-\d\dT.* and started from an empty state/,
    );
    const aside = fs.readdirSync(dir).filter((n) => n.startsWith('state.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, aside[0]!), 'utf8')).toBe(text);
    expect(Object.keys((await readState(dir)).state.groups).sort()).toEqual(['g1', 'g2', 'g3']);
  });

  test('fields from a newer version are tolerated: unknown keys dropped, unknown reasons left out', async () => {
    fs.mkdirSync(dir, { recursive: true });
    const group = { ...emptyGroupState(['example.org']), failures: { timeout: 2, some_new_reason: 1 }, lastReason: 'some_new_reason', extra: true };
    fs.writeFileSync(file(), JSON.stringify({ version: 1, groups: { 'example.org': group }, more: 1 }));
    const { state, corrupt } = await readState(dir);
    expect(corrupt).toBeUndefined();
    expect(state.groups['example.org']).toEqual({ ...emptyGroupState(['example.org']), failures: { timeout: 2 } });
  });

  test('an unreadable directory throws a StateError naming it', async () => {
    fs.writeFileSync(path.join(root, 'var'), 'a file where the directory should be');
    await expect(readState(dir)).rejects.toThrow(StateError);
    await expect(readState(dir)).rejects.toThrow(/cannot read .*state\.json: ENOTDIR.*check that .*xmpp-cert is readable/);
    await expect(writeState(dir, sample())).rejects.toThrow(/cannot write .*state\.json/);
  });

  test('a failed write (injected ENOSPC at the rename; the only stand-in here) keeps the old file and no temp file', async () => {
    await writeState(dir, sample());
    const failing = { ...realOps, rename: async () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) };
    await expect(writeState(dir, emptyState(), failing)).rejects.toThrow(/cannot write .*ENOSPC.*has free space/);
    expect(await readState(dir)).toEqual({ state: sample() });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });
});

describe('updateState', () => {
  test('20 concurrent updates under the lock: none is lost', async () => {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        updateState(dir, (s) => {
          s.heartbeat = (s.heartbeat ?? 0) + 1;
        }),
      ),
    );
    expect((await readState(dir)).state.heartbeat).toBe(20);
  });

  test('a corrupt file: the update starts from an empty state and returns the warning', async () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file(), 'not json');
    const result = await updateState(dir, (s) => ({ ...s, heartbeat: 5 }));
    expect(result.warning).toMatch(/corrupt/);
    expect((await readState(dir)).state).toEqual({ ...emptyState(), heartbeat: 5 });
  });
});

describe('readStateForScrape', () => {
  test('missing: an empty state and no error (no worker has written yet)', () => {
    expect(readStateForScrape(dir)).toEqual({ state: emptyState(), status: 'missing' });
  });

  test('parsed once, then served from the cache until the file changes', async () => {
    await writeState(dir, sample());
    const first = readStateForScrape(dir);
    expect(first).toEqual({ state: sample(), status: 'ok' });
    expect(readStateForScrape(dir)).toBe(first); // same object: not re-read
    await writeState(dir, { ...sample(), heartbeat: 1_750_000_300 });
    const changed = readStateForScrape(dir);
    expect(changed).not.toBe(first);
    expect(changed.state.heartbeat).toBe(1_750_000_300);
  });

  test('a corrupt file is reported, never moved or written', () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file(), '{"version": 7, "groups": {}}');
    expect(readStateForScrape(dir)).toEqual({ state: emptyState(), status: 'corrupt', error: expect.stringMatching(/state\.json is corrupt: version: /) });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  test('an unreadable path is reported, not thrown', () => {
    fs.mkdirSync(file(), { recursive: true }); // a directory where the file should be
    expect(readStateForScrape(dir)).toMatchObject({ state: emptyState(), status: 'unreadable', error: expect.stringMatching(/EISDIR/) });
  });
});
