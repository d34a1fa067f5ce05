/**
 * logfmt lines from the real pino logger (shared/log.ts): field order, quoting and escaping as
 * go-logfmt reads them, nested fields flattened, secrets still redacted, one line per event.
 */
import { createLogger, protectSecrets } from '../../src/shared/log';
import { logfmtValue } from '../../src/shared/logfmt';

function lines(fn: (log: ReturnType<typeof createLogger>) => void): string[] {
  const out: string[] = [];
  fn(createLogger('debug', { write: (line: string) => void out.push(line) }, 'logfmt'));
  return out;
}

test.each([
  ['plain', 'plain'],
  ['', '""'],
  ['two words', '"two words"'],
  ['a=b', '"a=b"'],
  ['say "hi"', '"say \\"hi\\""'],
  ['back\\slash', '"back\\\\slash"'],
  ['line\nbreak\r\ttab', '"line\\nbreak\\r\\ttab"'],
  ['bell\u0007', '"bell\\u0007"'],
  [42, '42'],
  [true, 'true'],
  [null, 'null'],
  [['a', 'b'], '"[\\"a\\",\\"b\\"]"'],
])('value %j -> %s', (value, text) => {
  expect(logfmtValue(value)).toBe(text);
});

test('time, level, msg first; then fields in order, nested ones dotted; one line per event', () => {
  const [line] = lines((log) => log.warn({ domain: 'a.example', failure: { message: 'boom\nat x', code: 'E1' } }, 'renewal failed'));
  expect(line).toMatch(
    /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=warn msg="renewal failed" domain=a\.example failure\.message="boom\\nat x" failure\.code=E1\n$/,
  );
});

test('secrets are redacted in logfmt as in JSON', () => {
  // Loading a config with a webhook marks `url` secret (config/secret.ts); the same call here.
  protectSecrets({ keys: ['url'] });
  const [line] = lines((log) => log.info({ notify: { password: 'hunter2', url: 'https://hooks.example/T/secret' } }, 'config'));
  expect(line).not.toContain('hunter2');
  expect(line).not.toContain('secret');
  expect(line).toContain('notify.password=<redacted>');
});

test('levels below the configured one are dropped', () => {
  const out: string[] = [];
  const log = createLogger('warn', { write: (l: string) => void out.push(l) }, 'logfmt');
  log.info('quiet');
  log.error('loud');
  expect(out).toHaveLength(1);
  expect(out[0]).toContain('level=error msg=loud');
});
