/**
 * The effective config as a user may see it (`xmpp-cert config`): secrets replaced and parsed
 * values written back in the units the user writes (thresholds, listen address). Webhook URLs
 * carry their token in the path (Slack, Discord), so only scheme and host remain; webhook header
 * values (Authorization) are replaced. The SMTP password is never in the config (a file or env).
 */
import type { Config } from './schema';
import { formatThreshold, type Threshold } from './units';

const REDACTED = '<redacted>';

function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    return `${u.protocol}//${u.host}/${REDACTED}`;
  } catch {
    return REDACTED;
  }
}

const thresholdText = (set: Partial<Record<string, Threshold>>) =>
  Object.fromEntries(Object.entries(set).flatMap(([k, v]) => (v ? [[k, formatThreshold(v)]] : [])));

export function displayConfig(config: Config): Record<string, unknown> {
  const { overrides, unusedFiles, ...levels } = config.thresholds;
  return {
    ...config,
    thresholds: { ...thresholdText(levels), unusedFiles, overrides: Object.fromEntries(Object.entries(overrides).map(([d, set]) => [d, thresholdText(set)])) },
    server: {
      ...config.server,
      listen: `${config.server.listen.host.includes(':') ? `[${config.server.listen.host}]` : config.server.listen.host}:${config.server.listen.port}`,
    },
    notify: {
      ...config.notify,
      webhooks: config.notify.webhooks.map((hook) => ({
        ...hook,
        url: redactUrl(hook.url),
        headers: Object.fromEntries(Object.keys(hook.headers).map((name) => [name, REDACTED])),
      })),
    },
  };
}
