/**
 * What `xmpp-cert config check` needs beyond loading the config: the watched domains (prosody.cfg.lua's
 * enabled hosts plus `domains`), to warn about threshold overrides that name none of them.
 */
import type { Config } from '../config';
import { enabledHosts, loadProsodyConfig } from '../discovery';
import { messageOf } from '../shared/errors';

/** The domains a scan would watch; without a readable prosody.cfg.lua, `domains` alone (and a note why). */
export async function watchedDomains(config: Config): Promise<{ domains: string[]; note?: string }> {
  if (!config.prosody.config) return { domains: config.domains };
  try {
    const prosody = await loadProsodyConfig(config.prosody.config);
    return { domains: [...new Set([...enabledHosts(prosody).map((h) => h.name), ...config.domains])] };
  } catch (err) {
    return { domains: config.domains, note: `cannot read ${config.prosody.config} (${messageOf(err)}); overrides were checked against domains only` };
  }
}
