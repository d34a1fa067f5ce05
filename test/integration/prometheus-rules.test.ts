/**
 * The alert rules as the real promtool reads them: `promtool check rules` and `promtool test rules`
 * (every alert fires in one case and stays silent in another), plus: every xmpp_cert_ metric the
 * rules use is documented in docs/metrics.md, and every alert has a runbook section.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeWithTools } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '../..');
const RULES = path.join(ROOT, 'prometheus/rules/xmpp-cert.rules.yml');

describeWithTools(['promtool'], 'Prometheus alert rules', () => {
  test('promtool check rules', () => {
    const run = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  test('promtool test rules: every alert fires and stays silent where it should', () => {
    const run = spawnSync('promtool', ['test', 'rules', path.join(ROOT, 'prometheus/rules/tests/xmpp-cert.rules.test.yml')], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  test('every alert has a firing test case and a runbook section', () => {
    const alerts = [...fs.readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const tests = fs.readFileSync(path.join(ROOT, 'prometheus/rules/tests/xmpp-cert.rules.test.yml'), 'utf8');
    const runbook = fs.readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8');
    for (const alert of alerts) {
      expect(tests).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
      expect(runbook).toContain(`## ${alert}\n`);
    }
  });
});

test('every xmpp_cert_ metric in prometheus/ is documented in docs/metrics.md', () => {
  const documented = new Set([...fs.readFileSync(path.join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  const used = new Set([...fs.readFileSync(RULES, 'utf8').matchAll(/\b(xmpp_cert_[a-z_]+)/g)].map((m) => m[1]!));
  expect(used.size).toBeGreaterThan(5);
  expect([...used].filter((name) => !documented.has(name))).toEqual([]);
});
