/**
 * alertmanager/alertmanager.yml and its templates as the real amtool (0.25) reads them:
 * `amtool check-config` (which also parses the templates), `amtool config routes test` for where
 * each severity goes, `amtool template render` for what a message says, and the inhibit rules
 * against the alert names in the rules file. It does not send anything: alerting-e2e.test.ts does.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describeWithTools } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '../..');
const CONFIG = path.join(ROOT, 'alertmanager/alertmanager.yml');
const RULES = path.join(ROOT, 'prometheus/rules/xmpp-cert.rules.yml');

interface Route {
  receiver?: string;
  matchers?: string[];
  continue?: boolean;
  repeat_interval?: string;
  group_by?: string[];
  routes?: Route[];
}
interface InhibitRule {
  source_matchers: string[];
  target_matchers: string[];
  equal: string[];
}

const amtool = (...args: string[]) => spawnSync('amtool', args, { encoding: 'utf8', cwd: os.tmpdir() });

/** Receivers an alert with these labels goes to, as amtool says (comma-separated, in order). */
function routesFor(labels: Record<string, string>): string {
  const run = amtool('config', 'routes', 'test', `--config.file=${CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`));
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

/** Alertmanager's matcher syntax, the forms used here: name="v", name!="v", name=~"re", name!~"re" (anchored). */
function matches(matcher: string, labels: Record<string, string>): boolean {
  const m = /^(\w+)(=~|!~|!=|=)"(.*)"$/.exec(matcher);
  if (!m) throw new Error(`matcher this test cannot read: ${matcher}`);
  const [, name, op, value] = m as unknown as [string, string, string, string];
  const actual = labels[name] ?? '';
  if (op === '=') return actual === value;
  if (op === '!=') return actual !== value;
  const re = new RegExp(`^(?:${value})$`);
  return op === '=~' ? re.test(actual) : !re.test(actual);
}

/** Whether a firing `source` alert inhibits `target` under the config's rules. */
function inhibits(rules: InhibitRule[], source: Record<string, string>, target: Record<string, string>): boolean {
  return rules.some(
    (r) =>
      r.source_matchers.every((m) => matches(m, source)) &&
      r.target_matchers.every((m) => matches(m, target)) &&
      r.equal.every((l) => (source[l] ?? '') === (target[l] ?? '')),
  );
}

/** alert name -> its severities, from the rules file. */
function alertSeverities(): Map<string, Set<string>> {
  const doc = YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; labels?: Record<string, string> }> }> };
  const out = new Map<string, Set<string>>();
  for (const rule of doc.groups.flatMap((g) => g.rules)) {
    if (!rule.alert) continue;
    const set = out.get(rule.alert) ?? new Set<string>();
    set.add(rule.labels?.severity ?? '');
    out.set(rule.alert, set);
  }
  return out;
}

describeWithTools(['amtool'], 'Alertmanager configuration', () => {
  const config = YAML.parse(fs.readFileSync(CONFIG, 'utf8')) as {
    route: Route;
    inhibit_rules: InhibitRule[];
    global: Record<string, unknown>;
    receivers: Array<Record<string, unknown>>;
  };

  test('amtool check-config passes, templates included (secret files need not exist)', () => {
    const run = amtool('check-config', CONFIG);
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.stdout).toContain('1 templates');
    expect(run.status).toBe(0);
  });

  test('critical goes to e-mail and Slack at once, warning to Slack and e-mail, the rest to the webhook', () => {
    expect(routesFor({ alertname: 'XmppCertExpiringCritical', severity: 'critical', domain: 'example.org' })).toBe('email,slack');
    expect(routesFor({ alertname: 'XmppCertExpiringWarning', severity: 'warning', domain: 'example.org' })).toBe('slack,email');
    expect(routesFor({ alertname: 'SomethingElse', severity: 'info' })).toBe('webhook');
  });

  test('grouped by alert name and domain; critical repeated every few hours, warning e-mail once a day', () => {
    expect(config.route.group_by).toEqual(['alertname', 'domain']);
    expect(config.route.repeat_interval).toBe('3h');
    const routes = config.route.routes ?? [];
    const find = (receiver: string, severity: string) => routes.find((r) => r.receiver === receiver && r.matchers?.includes(`severity="${severity}"`));
    // Inherits the root's 3h.
    expect(find('email', 'critical')?.repeat_interval).toBeUndefined();
    expect(find('slack', 'critical')?.repeat_interval).toBeUndefined();
    expect(find('slack', 'warning')?.repeat_interval).toBeUndefined();
    expect(find('email', 'warning')?.repeat_interval).toBe('24h');
  });

  test('a warning is inhibited by the critical alert of its kind for the same domain, not by another domain', () => {
    const rules = config.inhibit_rules;
    const alert = (alertname: string, severity: string, domain: string) => ({ alertname, severity, domain, job: 'xmpp-cert', instance: 'exporter:10522' });
    expect(inhibits(rules, alert('XmppCertExpiringCritical', 'critical', 'a.example'), alert('XmppCertExpiringWarning', 'warning', 'a.example'))).toBe(true);
    expect(inhibits(rules, alert('XmppCertExpired', 'critical', 'a.example'), alert('XmppCertExpiringWarning', 'warning', 'a.example'))).toBe(true);
    expect(inhibits(rules, alert('XmppCertExpired', 'critical', 'a.example'), alert('XmppCertExpiringCritical', 'critical', 'a.example'))).toBe(true);
    expect(inhibits(rules, alert('XmppCertExpiringCritical', 'critical', 'a.example'), alert('XmppCertRenewalOverdue', 'warning', 'a.example'))).toBe(true);
    expect(inhibits(rules, alert('XmppCertRenewalFallbackInUse', 'critical', 'a.example'), alert('XmppCertSelfSigned', 'warning', 'a.example'))).toBe(true);
    // Another domain, or an unrelated alert of the same domain: both are sent.
    expect(inhibits(rules, alert('XmppCertExpiringCritical', 'critical', 'b.example'), alert('XmppCertExpiringWarning', 'warning', 'a.example'))).toBe(false);
    expect(inhibits(rules, alert('XmppCertNameNotCovered', 'critical', 'a.example'), alert('XmppCertProbeFailing', 'warning', 'a.example'))).toBe(false);
    // The critical is never inhibited by its own warning.
    expect(inhibits(rules, alert('XmppCertExpiringWarning', 'warning', 'a.example'), alert('XmppCertExpiringCritical', 'critical', 'a.example'))).toBe(false);
  });

  test('every alert of the rules with both severities has its warning inhibited by its critical', () => {
    const pairs = [...alertSeverities()].filter(([, severities]) => severities.has('warning') && severities.has('critical')).map(([name]) => name);
    expect(pairs).toEqual(expect.arrayContaining(['XmppCertRenewalFailing', 'XmppCertWorkerHeartbeatStale']));
    for (const alertname of pairs) {
      const labels = (severity: string) => ({ alertname, severity, domain: 'a.example', job: 'xmpp-cert', instance: 'exporter:10522' });
      expect([alertname, inhibits(config.inhibit_rules, labels('critical'), labels('warning'))]).toEqual([alertname, true]);
    }
  });

  test('no secret in the file: the password and the Slack URL come from files, with examples shipped', () => {
    const text = fs.readFileSync(CONFIG, 'utf8');
    expect(text).not.toMatch(/^\s*(smtp_auth_password|auth_password|api_url|slack_api_url):/m);
    expect(config.global.smtp_auth_password_file).toBe('/etc/alertmanager/secrets/smtp_password');
    const slack = config.receivers.find((r) => r.name === 'slack') as { slack_configs: Array<{ api_url_file: string }> };
    expect(slack.slack_configs[0]!.api_url_file).toBe('/etc/alertmanager/secrets/slack_api_url');
    for (const name of ['smtp_password', 'slack_api_url']) expect(fs.existsSync(path.join(ROOT, `alertmanager/${name}.example`))).toBe(true);
    // Alertmanager 0.25 sends the password file's bytes as they are: a trailing newline breaks AUTH.
    expect(fs.readFileSync(path.join(ROOT, 'alertmanager/smtp_password.example'), 'utf8')).not.toMatch(/\n$/);
  });

  test('the templates render the domain, the time left and the runbook link', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-amtpl-'));
    try {
      const data = {
        receiver: 'email',
        status: 'firing',
        alerts: [
          {
            status: 'firing',
            labels: {
              alertname: 'XmppCertExpired',
              severity: 'critical',
              domain: 'gone.example',
              source: 'c2s_starttls',
              target: 'xmpp.gone.example:5222',
              instance: 'exporter:10522',
            },
            annotations: {
              summary: 'Certificate for gone.example expired 2h 0m 0s ago',
              description: 'The certificate seen at c2s_starttls xmpp.gone.example:5222 for gone.example has already expired (2h 0m 0s ago).',
              runbook_url: 'docs/runbook.md#xmppcertexpired',
            },
            startsAt: '2025-06-01T10:00:00Z',
            endsAt: '0001-01-01T00:00:00Z',
            generatorURL: 'http://prometheus:9090/graph',
            fingerprint: '1',
          },
        ],
        groupLabels: { alertname: 'XmppCertExpired', domain: 'gone.example' },
        commonLabels: { alertname: 'XmppCertExpired', severity: 'critical', domain: 'gone.example' },
        commonAnnotations: { summary: 'Certificate for gone.example expired 2h 0m 0s ago' },
        externalURL: 'http://alertmanager:9093',
      };
      const file = path.join(dir, 'data.json');
      fs.writeFileSync(file, JSON.stringify(data));
      const render = (name: string, type = 'text') => {
        const run = amtool(
          'template',
          'render',
          `--template.glob=${path.join(ROOT, 'alertmanager/templates/*.tmpl')}`,
          `--template.data=${file}`,
          `--template.type=${type}`,
          `--template.text={{ template "${name}" . }}`,
        );
        expect(run.stderr).toBe('');
        return run.stdout;
      };
      expect(render('xmpp_cert.email.subject')).toBe('[CRITICAL] Certificate for gone.example expired 2h 0m 0s ago');
      const text = render('xmpp_cert.email.text');
      expect(text).toContain('has already expired (2h 0m 0s ago)');
      expect(text).toContain('seen at: c2s_starttls xmpp.gone.example:5222');
      expect(text).toContain('since:   2025-06-01 10:00 UTC');
      expect(text).toContain('runbook: docs/runbook.md#xmppcertexpired');
      expect(render('xmpp_cert.email.html', 'html')).toContain('<a href="docs/runbook.md#xmppcertexpired">');
      expect(render('xmpp_cert.slack.title')).toBe('[CRITICAL] Certificate for gone.example expired 2h 0m 0s ago');
      expect(render('xmpp_cert.slack.color')).toBe('danger');
      const slack = render('xmpp_cert.slack.text');
      expect(slack).toContain('Domain: `gone.example`');
      expect(slack).toContain('Runbook: docs/runbook.md#xmppcertexpired');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
