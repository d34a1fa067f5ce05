/**
 * The alert rules as the real promtool reads them: `promtool check rules` and `promtool test rules`
 * (every alert fires in one case and stays silent in another), plus: every xmpp_cert_ metric the
 * rules use is documented in docs/metrics.md, every alert has a severity, a summary, a description,
 * a runbook_url and a runbook section. And `promtool check config` on prometheus/prometheus.yml
 * (the docker-compose one: its rule_files resolve relative to it; its host names need not resolve).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describeWithTools } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '../..');
const RULES = path.join(ROOT, 'prometheus/rules/xmpp-cert.rules.yml');
const PROMETHEUS_YML = path.join(ROOT, 'prometheus/prometheus.yml');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

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

describeWithTools(['promtool'], 'prometheus/prometheus.yml', () => {
  test('promtool check config passes and finds the rules file', () => {
    const run = spawnSync('promtool', ['check', 'config', PROMETHEUS_YML], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS: 1 rule files found');
    expect(run.stdout + run.stderr).toContain('is valid prometheus config file syntax');
    expect(run.status).toBe(0);
  });

  test('scrapes job xmpp-cert at exporter:10522 and alerts alertmanager:9093', () => {
    const config = YAML.parse(fs.readFileSync(PROMETHEUS_YML, 'utf8'));
    expect(config.rule_files).toEqual(['rules/*.rules.yml']);
    const job = config.scrape_configs.find((j: { job_name: string }) => j.job_name === 'xmpp-cert');
    expect(job.static_configs).toEqual([{ targets: ['exporter:10522'] }]);
    expect(config.alerting.alertmanagers[0].static_configs).toEqual([{ targets: ['alertmanager:9093'] }]);
  });
});

/** The placeholder base of every runbook_url (the rules file's header and docs/alerting.md say how to replace it). */
const RUNBOOK = 'https://git.example.org/ops/xmpp-cert-exporter/-/blob/main/docs/runbook.md';

const alertRules = (): Rule[] =>
  (YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules).filter((r) => r.alert);

test('every alert has a severity, a summary, a description and its absolute runbook_url', () => {
  const alerts = alertRules();
  expect(alerts.length).toBeGreaterThan(15);
  for (const rule of alerts) {
    const name = rule.alert!;
    expect([name, rule.labels?.severity]).toEqual([name, expect.stringMatching(/^(warning|critical)$/)]);
    expect([name, rule.annotations?.summary, rule.annotations?.description]).toEqual([name, expect.any(String), expect.any(String)]);
    expect([name, rule.annotations?.runbook_url]).toEqual([name, `${RUNBOOK}#${name.toLowerCase()}`]);
  }
});

test('the conventions of the rules file: stable summaries, every exporter series read through the gap window', () => {
  for (const rule of alertRules()) {
    const name = rule.alert!;
    // The summary is the e-mail subject and Slack title: no value that ticks, no query.
    expect([name, rule.annotations!.summary]).toEqual([name, expect.not.stringMatching(/\$value|query/)]);
    // No `for:` longer than an hour: a longer grace belongs in the expression.
    const seconds = (d: string) => Number(/^(\d+)([smhd])$/.exec(d)![1]) * { s: 1, m: 60, h: 3600, d: 86400 }[/[smhd]$/.exec(d)![0] as 's' | 'm' | 'h' | 'd'];
    if (rule.for) expect([name, seconds(rule.for)]).toEqual([name, expect.any(Number)]);
    if (rule.for) expect([name, seconds(rule.for) <= 3600]).toEqual([name, true]);
    // Every xmpp_cert_ series is read through the gap window (last_over_time(...[10m]), or of a
    // subquery [10m:]), or is the instant "another state exists" side of an `unless` (a `!=` selector).
    const outsideWindows = rule.expr.replace(/last_over_time\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\[10m:?\]\)/g, '');
    const bare = [...outsideWindows.matchAll(/\bxmpp_cert_[a-z_]+(\{[^}]*\})?/g)].filter((m) => !(m[1] ?? '').includes('!='));
    expect([name, bare.map((m) => m[0])]).toEqual([name, []]);
  }
});

test('every xmpp_cert_ metric in prometheus/ is documented in docs/metrics.md', () => {
  const documented = new Set([...fs.readFileSync(path.join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  const used = new Set([...fs.readFileSync(RULES, 'utf8').matchAll(/\b(xmpp_cert_[a-z_]+)/g)].map((m) => m[1]!));
  expect(used.size).toBeGreaterThan(5);
  expect([...used].filter((name) => !documented.has(name))).toEqual([]);
});
