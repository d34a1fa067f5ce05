/**
 * The Grafana dashboard and provisioning files as files: the dashboard's settings, variables and
 * panel structure (unique ids, positions, datasource, description), the panels the monitoring
 * issue asks for, the provisioning YAML, and `xmpp-cert dashboard` (built CLI) with `--export`.
 * Whether the queries return data is test/integration/grafana-dashboard.test.ts's job.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { runCli } from '../helpers/process';

const ROOT = path.resolve(__dirname, '../..');
const FILE = path.join(ROOT, 'grafana/dashboards/xmpp-certificates.json');

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; refId: string; datasource?: { type?: string; uid?: string } }>;
  panels?: Panel[];
  collapsed?: boolean;
}

const dashboard = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, unknown> & {
  panels: Panel[];
  templating: { list: Array<Record<string, unknown>> };
};
/** Every panel, rows included; a collapsed row holds its panels. */
const all: Panel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const visuals = all.filter((p) => p.type !== 'row');
const exprs = visuals.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));

test('dashboard settings: uid, title, refresh, time, shared crosshair', () => {
  expect(dashboard).toMatchObject({
    uid: 'xmpp-certificates',
    title: 'XMPP certificates',
    refresh: '1m',
    time: { from: 'now-7d', to: 'now' },
    graphTooltip: 1,
  });
  expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  expect((dashboard.tags as string[]).length).toBeGreaterThan(0);
  expect((dashboard.timepicker as { refresh_intervals: string[] }).refresh_intervals).toContain('1m');
});

test('variables: instance and domain, multi-value with All', () => {
  const byName = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  expect(byName.instance).toMatchObject({
    type: 'query',
    multi: true,
    includeAll: true,
    datasource: { uid: 'prometheus' },
    query: { query: 'label_values(xmpp_cert_build_info, instance)' },
  });
  expect(byName.domain).toMatchObject({
    type: 'query',
    multi: true,
    includeAll: true,
    datasource: { uid: 'prometheus' },
    query: { query: 'label_values(xmpp_cert_domain_status{instance=~"$instance"}, domain)' },
  });
  // Grafana sends allValue for "All": a regex, so `=~"$instance"` matches every instance.
  expect(byName.instance!.allValue).toBe('.*');
  expect(byName.domain!.allValue).toBe('.*');
});

test('every panel has a unique id and a gridPos inside 24 columns, and none overlap', () => {
  const ids = all.map((p) => p.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const p of all) {
    expect(p.gridPos).toEqual({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
    expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
  }
  // With every row expanded no two panels share a cell.
  const cells = new Map<string, string>();
  for (const p of all) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const cell = `${x},${y}`;
        expect([cell, cells.get(cell)]).toEqual([cell, undefined]);
        cells.set(cell, p.title);
      }
    }
  }
});

test('every panel has a description, the provisioned datasource and queries that follow $instance', () => {
  expect(visuals.length).toBeGreaterThan(20);
  for (const p of visuals) {
    expect([p.title, (p.description ?? '').length > 20]).toEqual([p.title, true]);
    expect([p.title, p.datasource]).toEqual([p.title, { type: 'prometheus', uid: 'prometheus' }]);
    expect(p.targets?.length).toBeGreaterThan(0);
    for (const t of p.targets!) {
      expect([p.title, t.datasource?.uid]).toEqual([p.title, 'prometheus']);
      expect([p.title, t.expr]).toEqual([p.title, expect.stringContaining('instance=~"$instance"')]);
    }
    const refIds = p.targets!.map((t) => t.refId);
    expect(new Set(refIds).size).toBe(refIds.length);
  }
});

test('the panels the issue asks for are there', () => {
  const has = (pattern: RegExp) => expect([pattern, exprs.some((e) => pattern.test(e))]).toEqual([pattern, true]);
  for (const status of ['ok', 'warning', 'critical', 'expired']) has(new RegExp(`count\\(xmpp_cert_domain_status\\{status="${status}"`));
  // The status colours come from the exported thresholds, not from fixed Grafana thresholds.
  has(
    /xmpp_cert_not_after_timestamp_seconds\{position="0".*- time\(\) <= bool on \(job, instance, domain\) group_left \(\) xmpp_cert_threshold_seconds\{level="warning"\}/s,
  );
  has(/- time\(\) <= bool on \(job, instance, domain\) group_left \(\) xmpp_cert_threshold_seconds\{level="critical"\}/);
  has(/\/ 86400/);
  has(/xmpp_cert_served_matches_disk/);
  has(/xmpp_cert_trusted/);
  has(/xmpp_cert_name_covered/);
  has(/xmpp_cert_probe_success/);
  has(/xmpp_cert_probe_failure/);
  has(/increase\(xmpp_cert_renewal_attempts_total\{.*\}\[\$__rate_interval\]\)/);
  has(/xmpp_cert_threshold_seconds\{level="renewal"\}/);
  has(/xmpp_cert_renewal_next_attempt_timestamp_seconds/);
  has(/time\(\) - xmpp_cert_worker_heartbeat_timestamp_seconds/);
  has(/up\{job="xmpp-cert"/);
  has(/xmpp_cert_scrape_duration_seconds_sum/);
  has(/xmpp_cert_source_up/);
  has(/xmpp_cert_file_errors/);
  has(/xmpp_cert_config_last_reload_successful/);
  // The whole chain, issuers, TLS versions, unused files apart, not yet valid counted as critical.
  has(
    /^\(xmpp_cert_not_after_timestamp_seconds\{instance=~"\$instance",domain=~"\$domain"\} - time\(\)\) \* on \(job, instance, domain, source, target, position\) group_left \(subject, issuer\) xmpp_cert_info/,
  );
  has(/count by \(issuer, source\) \(xmpp_cert_info\{position="0"/);
  has(/xmpp_cert_tls_version_info/);
  has(/group_left \(severity\) xmpp_cert_file_unused/);
  has(/clamp_min\(2 \* \(xmpp_cert_not_before_timestamp_seconds\{position="0",.*\} > bool time\(\)\)/);
  const status = visuals.find((p) => p.title === 'Time left per domain and source') as unknown as {
    fieldConfig: { overrides: Array<{ matcher: { options: string }; properties: Array<{ id: string; value: unknown }> }> };
  };
  const mappings = status.fieldConfig.overrides.find((o) => o.matcher.options === 'Status')!.properties.find((p) => p.id === 'mappings')!.value as Array<{
    options: Record<string, { text: string; color: string }>;
  }>;
  expect(mappings[0]!.options).toMatchObject({
    '0': { text: 'ok', color: 'green' },
    '1': { text: 'warning', color: 'yellow' },
    '2': { text: 'critical', color: 'red' },
    '3': { text: 'expired' },
  });
});

test('every xmpp_cert_ metric the dashboard names is documented in docs/metrics.md', () => {
  const documented = new Set([...fs.readFileSync(path.join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  const used = new Set([...exprs.join('\n').matchAll(/\b(xmpp_cert_[a-z_]+)/g)].map((m) => m[1]!));
  // A summary's samples are NAME_sum and NAME_count; docs/metrics.md lists NAME.
  const family = (name: string) => (documented.has(name) ? name : name.replace(/_(sum|count|bucket)$/, ''));
  expect([...used].filter((name) => !documented.has(family(name)))).toEqual([]);
});

test('provisioning: the datasource uid the dashboard uses, the dashboards folder docker-compose mounts', () => {
  const ds = YAML.parse(fs.readFileSync(path.join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'));
  expect(ds.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })]);
  const providers = YAML.parse(fs.readFileSync(path.join(ROOT, 'grafana/provisioning/dashboards/xmpp-cert.yml'), 'utf8'));
  expect(providers.providers).toEqual([
    expect.objectContaining({ type: 'file', folder: 'XMPP', allowUiUpdates: false, options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) }),
  ]);
});

describe('xmpp-cert dashboard (built CLI)', () => {
  test('prints where the dashboard and the provisioning files are', () => {
    const run = runCli(['dashboard']);
    expect(run.status).toBe(0);
    const shown = /dashboard:\s+(\S+)/.exec(run.stdout)![1]!;
    expect(fs.readFileSync(shown, 'utf8')).toBe(fs.readFileSync(FILE, 'utf8'));
    expect(fs.existsSync(/provisioning:\s+(\S+)/.exec(run.stdout)![1]!)).toBe(true);
  });

  test('--export -: the dashboard with a DS_PROMETHEUS input and no fixed datasource uid left', () => {
    const run = runCli(['dashboard', '--export', '-']);
    expect(run.status).toBe(0);
    const exported = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(exported.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    expect(exported).toMatchObject({ uid: 'xmpp-certificates', title: 'XMPP certificates', id: null });
    // The Grafana it requires is the one that writes the file's schema version (38: Grafana 10.0),
    // as docs/grafana.md says ("Grafana 10 or later").
    expect(exported.schemaVersion).toBe(38);
    expect(exported.__requires).toContainEqual({ type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' });
    expect(run.stdout).not.toMatch(/"uid": "prometheus"/);
    const uids = [...run.stdout.matchAll(/"type": "prometheus",\s+"uid": "([^"]+)"/g)].map((m) => m[1]);
    expect(uids.length).toBe(visuals.length + exprs.length + 2);
    expect(new Set(uids)).toEqual(new Set(['${DS_PROMETHEUS}']));
  });

  test('--export FILE writes it; a path that cannot be written exits 1 and says why', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-dashboard-'));
    const out = path.join(dir, 'xmpp-certificates.json');
    const run = runCli(['dashboard', '--export', out]);
    expect(run.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toHaveProperty('__inputs');
    const bad = runCli(['dashboard', '--export', path.join(dir, 'missing-dir', 'x.json')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(
      /^xmpp-cert: --export \S+missing-dir\/x\.json: the directory \S+missing-dir does not exist \(create it first, or choose another file\)\n$/,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
