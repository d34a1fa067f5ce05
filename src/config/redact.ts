/**
 * The effective config as a user may see it (`xmpp-cert config`): every field the schema marks
 * secret replaced (config/secret.ts: a webhook URL keeps its scheme and host, header values and
 * the EAB HMAC key become `<redacted>`), and parsed values written back in the units the user
 * writes (thresholds, listen address). The SMTP password is never in the config (a file or env).
 */
import { configSchema, type Config } from './schema';
import { mapSecrets, redacted, secretFields } from './secret';
import { formatThreshold, type Threshold } from './units';

/** The secret fields of the config, found once by walking the schema for the `secret` mark. */
export const CONFIG_SECRETS = secretFields(configSchema);

const thresholdText = (set: Partial<Record<string, Threshold>>) =>
  Object.fromEntries(Object.entries(set).flatMap(([k, v]) => (v ? [[k, formatThreshold(v)]] : [])));

export function displayConfig(config: Config): Record<string, unknown> {
  const { overrides, unusedFiles, ...levels } = config.thresholds;
  const shown = {
    ...config,
    thresholds: { ...thresholdText(levels), unusedFiles, overrides: Object.fromEntries(Object.entries(overrides).map(([d, set]) => [d, thresholdText(set)])) },
    server: {
      ...config.server,
      listen: `${config.server.listen.host.includes(':') ? `[${config.server.listen.host}]` : config.server.listen.host}:${config.server.listen.port}`,
    },
  };
  return mapSecrets(CONFIG_SECRETS, shown, redacted) as Record<string, unknown>;
}
