/**
 * `xmpp-cert dashboard`: says where the Grafana dashboard and its provisioning files are in the
 * installed package, and with `--export FILE` (or `-` for stdout) writes the dashboard prepared
 * for Grafana's import screen: the fixed datasource uid "prometheus" becomes the input
 * DS_PROMETHEUS, as Grafana's own "Export for sharing externally" does, so the importer picks a
 * datasource. It does not talk to Grafana.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { messageOf } from '../shared/errors';
import { writeOutput } from './output';

/** From dist/commands/ (or src/commands/ under ts-jest) up to the package root. */
const PACKAGE_ROOT = path.resolve(__dirname, '../..');
export const DASHBOARD_FILE = path.join(PACKAGE_ROOT, 'grafana/dashboards/xmpp-certificates.json');
export const PROVISIONING_DIR = path.join(PACKAGE_ROOT, 'grafana/provisioning');

/** The uid grafana/provisioning/datasources/prometheus.yml gives the datasource. */
const PROVISIONED_UID = 'prometheus';
const INPUT = 'DS_PROMETHEUS';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The first Grafana release that writes each dashboard schema version the file may carry: what the
 * export's `__requires` names. A Grafana older than that would load the file with a schema it does
 * not know. Grafana 10.0 writes 38 (table cell options); 39 came with a later 10.x (time-series
 * table options, which this dashboard does not use).
 */
const GRAFANA_FOR_SCHEMA: Record<number, string> = { 38: '10.0.0' };

/** Replaces every reference to the provisioned datasource with the import input. */
function withInput(value: Json): Json {
  if (Array.isArray(value)) return value.map(withInput);
  if (value === null || typeof value !== 'object') return value;
  const out: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(value)) out[key] = withInput(child);
  if (out.type === 'prometheus' && out.uid === PROVISIONED_UID) out.uid = `\${${INPUT}}`;
  return out;
}

/** The dashboard as Grafana's import expects it: `__inputs` first, no database id. */
export function exportForImport(dashboard: { [key: string]: Json }): { [key: string]: Json } {
  const schema = Number(dashboard.schemaVersion);
  const grafana = GRAFANA_FOR_SCHEMA[schema];
  if (!grafana) throw new Error(`schemaVersion ${schema} has no Grafana release in GRAFANA_FOR_SCHEMA (src/commands/dashboard.ts)`);
  const prepared = withInput(dashboard) as { [key: string]: Json };
  return {
    __inputs: [
      {
        name: INPUT,
        label: 'Prometheus',
        description: 'The Prometheus that scrapes xmpp-cert-exporter',
        type: 'datasource',
        pluginId: 'prometheus',
        pluginName: 'Prometheus',
      },
    ],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: grafana },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
    ],
    ...prepared,
    id: null,
  };
}

function readDashboard(): { [key: string]: Json } {
  return JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as { [key: string]: Json };
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('print where the Grafana dashboard and provisioning files are; --export writes the dashboard for importing into Grafana')
    .option('--export <file>', 'write the dashboard JSON prepared for Grafana\'s import screen ("-" for stdout)')
    .action(async (opts: { export?: string }) => {
      process.exitCode = await dashboard(opts.export);
    });
}

async function dashboard(exportTo: string | undefined): Promise<number> {
  let text: string;
  try {
    text = JSON.stringify(exportForImport(readDashboard()), null, 2) + '\n';
  } catch (err) {
    // The file ships with the package; without it the installation is broken, not the user's input.
    process.stderr.write(`xmpp-cert: cannot read the dashboard ${DASHBOARD_FILE}: ${messageOf(err)}\n`);
    return 1;
  }
  if (exportTo === undefined) {
    process.stdout.write(
      [
        `dashboard:    ${DASHBOARD_FILE}`,
        `provisioning: ${PROVISIONING_DIR} (datasources/prometheus.yml, dashboards/xmpp-cert.yml)`,
        'import into an existing Grafana: xmpp-cert dashboard --export FILE, then Dashboards > New > Import (docs/grafana.md)',
        '',
      ].join('\n'),
    );
    return 0;
  }
  if (exportTo === '-') {
    process.stdout.write(text);
    return 0;
  }
  let written: string;
  try {
    written = await writeOutput(exportTo, text, '--export');
  } catch (err) {
    process.stderr.write(`xmpp-cert: ${messageOf(err)}\n`);
    return 1;
  }
  process.stdout.write(`wrote ${written}: import it in Grafana (Dashboards > New > Import) and pick your Prometheus datasource\n`);
  return 0;
}
