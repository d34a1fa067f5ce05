/**
 * `xmpp-cert notify test`: sends one test message through every configured channel now, not
 * through the outbox (no dedupe, no digest, nothing queued or counted), and prints one line per
 * channel: its label, where it sends (no secret) and ok or the error. Exit 1 when any channel
 * failed or none is configured; a config error exits 1 with the key named.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { createChannels } from '../notify/channels';
import { testEvent } from '../notify/events';
import { XmppCertError, messageOf } from '../shared/errors';

interface GlobalOptions {
  config?: string;
  legacyConf?: string;
}

export function registerNotify(program: Command): void {
  const notify = program.command('notify').description('renewal event notifications (e-mail, webhooks)');
  notify
    .command('test')
    .description('send a test message through every configured channel now; exit 1 if any failed')
    .action(async () => {
      try {
        process.exitCode = await sendTest(program.opts<GlobalOptions>());
      } catch (err) {
        process.stderr.write(`xmpp-cert: ${err instanceof XmppCertError ? err.message : ((err as Error).stack ?? messageOf(err))}\n`);
        process.exitCode = 1;
      }
    });
}

async function sendTest(opts: GlobalOptions): Promise<number> {
  const { config } = loadConfig({ file: opts.config, legacyConf: opts.legacyConf });
  const { channels, warnings } = createChannels(config);
  for (const warning of warnings) process.stderr.write(`${warning}\n`);
  if (channels.length === 0) {
    process.stdout.write('no notification channel configured (notify.email.to or CERT_ALERT_EMAIL, notify.webhooks or CERT_WEBHOOK_URL)\n');
    return 1;
  }
  const event = testEvent(Date.now() / 1000, os.hostname());
  // One at a time, so the lines come out in the config's order.
  let failed = 0;
  for (const channel of channels) {
    try {
      await channel.send([event]);
      process.stdout.write(`${channel.label}: ok (${channel.describe()})\n`);
    } catch (err) {
      failed++;
      process.stdout.write(`${channel.label}: error: ${messageOf(err)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}
