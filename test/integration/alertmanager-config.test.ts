/**
 * alertmanager/alertmanager.yml and its templates as the real amtool (0.25) reads them:
 * `amtool check-config` (which also parses the templates), `amtool config routes test` for where
 * each severity goes, `amtool template render` for what a message says, and every inhibit rule on
 * a real Alertmanager: alerts added with `amtool alert add`, read back with `amtool alert query
 * --inhibited`. It does not send anything (group_wait is an hour there): alerting-e2e.test.ts and
 * alerting-outage.test.ts do.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { alertmanagerBinary, startAlertmanager, type RunningAlertmanager } from '../helpers/alertmanager-server';
import { waitFor } from '../helpers/process';
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

  test('the templates render the domain, the time left, the runbook and silence links; resolved says it stopped', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-amtpl-'));
    try {
      const data: { status: string; alerts: Array<{ annotations: Record<string, string> } & Record<string, unknown>> } & Record<string, unknown> = {
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
              summary: 'Certificate for gone.example has expired',
              description: 'The certificate seen at c2s_starttls xmpp.gone.example:5222 for gone.example expired 2h 0m 0s ago.',
              runbook_url: 'https://docs.example.org/runbook.md#xmppcertexpired',
            },
            startsAt: '2025-06-01T10:00:00Z',
            endsAt: '0001-01-01T00:00:00Z',
            generatorURL: 'http://prometheus:9090/graph',
            fingerprint: '1',
          },
        ],
        groupLabels: { alertname: 'XmppCertExpired', domain: 'gone.example' },
        commonLabels: { alertname: 'XmppCertExpired', severity: 'critical', domain: 'gone.example' },
        commonAnnotations: { summary: 'Certificate for gone.example has expired' },
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
      expect(render('xmpp_cert.email.subject')).toBe('[CRITICAL] Certificate for gone.example has expired');
      expect(render('xmpp_cert.email.thread')).toBe('<XmppCertExpired-gone-example@xmpp-cert.alertmanager>');
      const text = render('xmpp_cert.email.text');
      const silence = 'http://alertmanager:9093/#/silences/new?filter=%7Balertname%3D%22XmppCertExpired%22%2Cdomain%3D%22gone.example%22%7D';
      expect(text).toContain('expired 2h 0m 0s ago');
      expect(text).toContain('seen at: c2s_starttls xmpp.gone.example:5222');
      expect(text).toContain('since:   2025-06-01 10:00 UTC');
      expect(text).toContain('runbook: https://docs.example.org/runbook.md#xmppcertexpired');
      expect(text).toContain(`Silence:      ${silence}`);
      const html = render('xmpp_cert.email.html', 'html');
      expect(html).toContain('<a href="https://docs.example.org/runbook.md#xmppcertexpired">');
      expect(html).toContain(`<a href="${silence}">Silence</a>`);
      expect(render('xmpp_cert.slack.title')).toBe('[CRITICAL] Certificate for gone.example has expired');
      expect(render('xmpp_cert.slack.color')).toBe('danger');
      const slack = render('xmpp_cert.slack.text');
      expect(slack).toContain('Domain: `gone.example`');
      expect(slack).toContain('Runbook: https://docs.example.org/runbook.md#xmppcertexpired');
      expect(slack).toContain(`<${silence}|Silence>`);
      // A relative runbook_url (a rule of your own) is shown as it is while no base is set.
      data.alerts[0]!.annotations.runbook_url = 'docs/runbook.md#xmppcertexpired';
      fs.writeFileSync(file, JSON.stringify(data));
      expect(render('xmpp_cert.email.text')).toContain('runbook: docs/runbook.md#xmppcertexpired');

      // Resolved: the same subject (the thread stays together), a text that says it stopped.
      data.status = 'resolved';
      Object.assign(data.alerts[0]!, { status: 'resolved', endsAt: '2025-06-02T11:30:00Z' });
      fs.writeFileSync(file, JSON.stringify(data));
      expect(render('xmpp_cert.email.subject')).toBe('[RESOLVED] Certificate for gone.example has expired');
      const resolved = render('xmpp_cert.slack.text');
      expect(resolved).toContain(
        'Resolved: XmppCertExpired for gone.example (c2s_starttls xmpp.gone.example:5222) no longer fires since 2025-06-02 11:30 UTC; it fired from 2025-06-01 10:00 UTC.',
      );
      expect(resolved).not.toContain('expired 2h 0m 0s ago');
      expect(render('xmpp_cert.slack.color')).toBe('good');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** One inhibition case: while `source` fires, `target` is held back (or not, when `inhibited` is false). */
interface InhibitionCase {
  why: string;
  source: Record<string, string>;
  target: Record<string, string>;
  inhibited: boolean;
  /** The other way round: the target holds back the source. */
  sourceInhibited?: boolean;
}

const endpoint = { source: 'c2s_starttls', target: 'xmpp.example:5222' };
/** Each case gets its own domain (and instance), so cases never inhibit one another. */
const INHIBITIONS: InhibitionCase[] = [
  {
    why: 'expiring critical holds back expiring warning',
    source: { alertname: 'XmppCertExpiringCritical', severity: 'critical' },
    target: { alertname: 'XmppCertExpiringWarning', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'expired holds back expiring critical',
    source: { alertname: 'XmppCertExpired', severity: 'critical' },
    target: { alertname: 'XmppCertExpiringCritical', severity: 'critical' },
    inhibited: true,
  },
  {
    why: 'expired holds back expiring warning',
    source: { alertname: 'XmppCertExpired', severity: 'critical' },
    target: { alertname: 'XmppCertExpiringWarning', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'any expiry alert holds back renewal overdue (warning)',
    source: { alertname: 'XmppCertExpiringWarning', severity: 'warning' },
    target: { alertname: 'XmppCertRenewalOverdue', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'any expiry alert holds back renewal overdue (expired)',
    source: { alertname: 'XmppCertExpired', severity: 'critical' },
    target: { alertname: 'XmppCertRenewalOverdue', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'expired holds back not trusted at the same endpoint',
    source: { alertname: 'XmppCertExpired', severity: 'critical', ...endpoint },
    target: { alertname: 'XmppCertNotTrusted', severity: 'critical', ...endpoint },
    inhibited: true,
  },
  {
    why: 'not yet valid holds back not trusted at the same endpoint',
    source: { alertname: 'XmppCertNotYetValid', severity: 'critical', ...endpoint },
    target: { alertname: 'XmppCertNotTrusted', severity: 'critical', ...endpoint },
    inhibited: true,
  },
  {
    why: 'an expired file does not hold back not trusted at an endpoint',
    source: { alertname: 'XmppCertExpired', severity: 'critical', source: 'file', target: '/c/x.pem' },
    target: { alertname: 'XmppCertNotTrusted', severity: 'critical', ...endpoint },
    inhibited: false,
  },
  {
    why: 'chain expiring critical holds back its warning',
    source: { alertname: 'XmppCertChainExpiring', severity: 'critical', position: '1' },
    target: { alertname: 'XmppCertChainExpiring', severity: 'warning', position: '1' },
    inhibited: true,
  },
  {
    why: 'renewal failing critical holds back its warning',
    source: { alertname: 'XmppCertRenewalFailing', severity: 'critical' },
    target: { alertname: 'XmppCertRenewalFailing', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'the self-signed fallback holds back self-signed',
    source: { alertname: 'XmppCertRenewalFallbackInUse', severity: 'critical' },
    target: { alertname: 'XmppCertSelfSigned', severity: 'warning' },
    inhibited: true,
  },
  {
    why: 'a warning never holds back its critical',
    source: { alertname: 'XmppCertExpiringWarning', severity: 'warning' },
    target: { alertname: 'XmppCertExpiringCritical', severity: 'critical' },
    inhibited: false,
    sourceInhibited: true,
  },
  {
    why: 'an unrelated alert of the domain is sent',
    source: { alertname: 'XmppCertNameNotCovered', severity: 'critical' },
    target: { alertname: 'XmppCertProbeFailing', severity: 'warning' },
    inhibited: false,
  },
  {
    why: 'an unused file is not held back by an expiry of the domain',
    source: { alertname: 'XmppCertExpired', severity: 'critical' },
    target: { alertname: 'XmppCertUnusedFileInvalid', severity: 'warning', source: 'file', target: '/c/old.pem' },
    inhibited: false,
  },
];

describeWithTools(['amtool', alertmanagerBinary()], 'inhibit rules on a real Alertmanager (amtool alert add / query --inhibited)', () => {
  jest.setTimeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-aminhibit-'));
  let am: RunningAlertmanager;

  beforeAll(async () => {
    // The shipped file; only the templates' path (relative to the copy) and group_wait change, so
    // nothing is sent while the test runs.
    const config = YAML.parse(fs.readFileSync(CONFIG, 'utf8'));
    config.templates = [path.join(ROOT, 'alertmanager/templates/*.tmpl')];
    config.route.group_wait = '1h';
    const file = path.join(dir, 'alertmanager.yml');
    fs.writeFileSync(file, YAML.stringify(config));
    am = await startAlertmanager({ configFile: file });
  });

  afterAll(async () => {
    await am?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('each inhibit rule holds back exactly what it should, and for the same domain, instance and endpoint only', async () => {
    const add = (labels: Record<string, string>) => {
      const run = amtool('alert', 'add', `--alertmanager.url=${am.url}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`));
      expect([labels, run.stderr]).toEqual([labels, '']);
    };
    INHIBITIONS.forEach((c, i) => {
      const own = { job: 'xmpp-cert', instance: `exporter${i}:10522`, domain: `case${i}.example` };
      add({ ...own, ...c.source });
      add({ ...own, ...c.target });
      // The same target for another domain is never held back by this source.
      if (c.inhibited) add({ ...own, domain: `other${i}.example`, ...c.target });
    });
    const query = async () => {
      const run = amtool('alert', 'query', `--alertmanager.url=${am.url}`, '--inhibited', '--active', '-o', 'json');
      return JSON.parse(run.stdout) as Array<{ labels: Record<string, string>; status: { inhibitedBy: string[] } }>;
    };
    // Alertmanager works out inhibitions as alerts arrive; wait until every one is in.
    const expected = INHIBITIONS.reduce((n, c) => n + (c.inhibited ? 3 : 2), 0);
    await waitFor(async () => (await query()).length === expected, 10_000, `${expected} alerts in Alertmanager`);
    const alerts = await query();
    const held = (labels: Record<string, string>) =>
      alerts.find((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v))!.status.inhibitedBy.length > 0;
    const results = INHIBITIONS.map((c, i) => {
      const own = { instance: `exporter${i}:10522`, domain: `case${i}.example` };
      return {
        why: c.why,
        target: held({ ...own, ...c.target }),
        source: held({ ...own, ...c.source }),
        ...(c.inhibited ? { otherDomain: held({ ...own, domain: `other${i}.example`, ...c.target }) } : {}),
      };
    });
    expect(results).toEqual(
      INHIBITIONS.map((c) => ({
        why: c.why,
        target: c.inhibited,
        source: c.sourceInhibited ?? false,
        ...(c.inhibited ? { otherDomain: false } : {}),
      })),
    );
  });

  test('every inhibit rule of the file has a case here', () => {
    const config = YAML.parse(fs.readFileSync(CONFIG, 'utf8')) as { inhibit_rules: InhibitRule[] };
    for (const rule of config.inhibit_rules) {
      const covered = INHIBITIONS.some(
        (c) => c.inhibited && inhibits([rule], { ...c.source, domain: 'd', instance: 'i' }, { ...c.target, domain: 'd', instance: 'i' }),
      );
      expect([rule, covered]).toEqual([rule, true]);
    }
  });
});
