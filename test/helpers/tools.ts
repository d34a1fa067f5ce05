/**
 * Integration tests need real programs (openssl, later prosody, pebble, prometheus). When one is
 * missing the suite is skipped with a printed reason; with XMPP_CERT_REQUIRE_INTEGRATION=1 (set by
 * .ci/run) the missing program fails the run instead.
 */
import { spawnSync } from 'node:child_process';

export function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

/** describe() when every tool exists; otherwise a skip (or, when required, a failing test). */
export function describeWithTools(tools: string[], name: string, body: () => void): void {
  const missing = missingTools(tools);
  if (missing.length === 0) return describe(name, body);
  const reason = `${name}: skipped, ${missing.join(', ')} not installed (apt-get install ${missing.join(' ')})`;
  if (process.env.XMPP_CERT_REQUIRE_INTEGRATION === '1') {
    describe(name, () =>
      test('required programs are installed', () => {
        throw new Error(reason);
      }),
    );
    return;
  }

  console.log(reason);
  describe.skip(name, body);
}
