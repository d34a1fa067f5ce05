/**
 * A real Prometheus (Debian's prometheus 2.42) for tests: its own prometheus.yml and TSDB in a temp
 * directory, a free loopback port, ready when /-/ready answers. Scrapes the given host:port targets,
 * optionally loads rule files (copied next to the config, so the caller's files stay untouched) and
 * sends alerts to an Alertmanager. query() runs an instant query and returns the vector.
 * It does not manage the exporter or the Alertmanager; the caller starts and stops those.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './process';
import { freePort } from './prosody-server';

export interface PrometheusOptions {
  /** host:port targets, scraped at /metrics. */
  scrapeTargets: string[];
  jobName?: string;
  /** Default '1s'. */
  scrapeInterval?: string;
  /** Default '1s'. */
  evaluationInterval?: string;
  /** Rule files to load; each is copied into the temp dir (name kept). */
  ruleFiles?: string[];
  /** e.g. http://127.0.0.1:9093 */
  alertmanagerUrl?: string;
  /** Top-level keys merged into the generated config (e.g. more scrape_configs). */
  extraConfig?: Record<string, unknown>;
}

export interface Series {
  metric: Record<string, string>;
  /** [unix seconds, value as text], as the HTTP API returns it. */
  value: [number, string];
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
  activeAt?: string;
}

export interface RunningPrometheus {
  url: string;
  dir: string;
  query(promql: string): Promise<Series[]>;
  /** Active alerts as the HTTP API reports them (/api/v1/alerts); activeAt is when each became pending. */
  alerts(): Promise<PrometheusAlert[]>;
  log(): string;
  /** A function, not a method: callers push it onto their list of things to stop. */
  stop: () => Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-prom-'));
  const rules = (options.ruleFiles ?? []).map((file) => {
    const copy = path.join(dir, path.basename(file));
    fs.copyFileSync(file, copy);
    return copy;
  });
  const config: Record<string, unknown> = {
    global: { scrape_interval: options.scrapeInterval ?? '1s', evaluation_interval: options.evaluationInterval ?? '1s' },
    scrape_configs: [{ job_name: options.jobName ?? 'xmpp-cert', static_configs: [{ targets: options.scrapeTargets }] }],
    ...(rules.length ? { rule_files: rules } : {}),
    ...(options.alertmanagerUrl ? { alerting: { alertmanagers: alertmanagerTarget(options.alertmanagerUrl) } } : {}),
    ...options.extraConfig,
  };
  // JSON is valid YAML; no YAML writer needed.
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
    return fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
  };
  await waitFor(ready, 15_000, 'Prometheus to be ready').catch(async (err: Error) => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${err.message}:\n${log}`);
  });

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${url}${pathAndQuery}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${pathAndQuery}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    dir,
    query: async (promql) => {
      const data = await api<{ resultType: string; result: Series[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      if (data.resultType !== 'vector') throw new Error(`expected a vector from ${promql}, got ${data.resultType}`);
      return data.result;
    },
    alerts: async () => (await api<{ alerts: PrometheusAlert[] }>('/api/v1/alerts')).alerts,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function alertmanagerTarget(amUrl: string): unknown[] {
  const u = new URL(amUrl);
  return [{ scheme: u.protocol.replace(':', ''), ...(u.pathname !== '/' ? { path_prefix: u.pathname } : {}), static_configs: [{ targets: [u.host] }] }];
}
