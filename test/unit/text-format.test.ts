/**
 * The report families' text writer (src/metrics/text-format.ts) and the bounded pool
 * (src/shared/lanes.ts): exposition lines as Prometheus parses them, and at most N calls in flight.
 */
import { TextWriter } from '../../src/metrics/text-format';
import { inLanes } from '../../src/shared/lanes';
import { parseMetrics } from '../helpers/metrics-text';

const text = (writer: TextWriter) => Buffer.concat(writer.finish()).toString();

test('HELP, TYPE and samples with labels in labelNames order, escaped as the text format says', () => {
  const writer = new TextWriter();
  writer.gauge(
    't_info',
    'Help with a \\ and\na newline.',
    ['b', 'a', 'c'],
    [
      [{ a: 'x"y', b: 'back\\slash', c: 'line\nbreak' }, 1],
      [{ a: 'only a', b: undefined }, 2.5],
    ],
  );
  writer.gauge('t_empty', 'No samples.', [], []);
  writer.gauge('t_plain', 'Special values.', [], [[{}, Infinity]]);
  expect(text(writer)).toBe(
    [
      '# HELP t_info Help with a \\\\ and\\na newline.',
      '# TYPE t_info gauge',
      't_info{b="back\\\\slash",a="x\\"y",c="line\\nbreak"} 1',
      't_info{a="only a"} 2.5',
      '# HELP t_empty No samples.',
      '# TYPE t_empty gauge',
      '# HELP t_plain Special values.',
      '# TYPE t_plain gauge',
      't_plain +Inf',
      '',
    ].join('\n'),
  );
});

test('a large family is split into chunks that join into whole lines', () => {
  const writer = new TextWriter();
  const samples = Array.from({ length: 20_000 }, (_, i) => [{ domain: `d${i}.example`, file: `/etc/prosody/certs/d${i}.example/fullchain.pem` }, i] as const);
  writer.gauge('t_big', 'Big.', ['domain', 'file'], samples);
  const chunks = writer.finish();
  expect(chunks.length).toBeGreaterThan(10);
  for (const chunk of chunks) expect(chunk.toString().endsWith('\n')).toBe(true);
  const parsed = parseMetrics(Buffer.concat(chunks).toString());
  expect(parsed.filter((s) => s.name === 't_big')).toHaveLength(20_000);
  expect(parsed.find((s) => s.labels.domain === 'd19999.example')?.value).toBe(19_999);
});

test('inLanes keeps at most N calls in flight and returns results in item order', async () => {
  let inFlight = 0;
  let most = 0;
  const results = await inLanes(
    Array.from({ length: 50 }, (_, i) => i),
    4,
    async (i) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      inFlight--;
      return i * 2;
    },
  );
  expect(most).toBe(4);
  expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
});

test('inLanes takes no new item once stopped and returns what ran', async () => {
  let stop = false;
  const results = await inLanes(
    [1, 2, 3, 4, 5, 6],
    2,
    async (i) => {
      if (i === 2) stop = true;
      return i;
    },
    () => stop,
  );
  expect(results).toEqual([1, 2]);
});
