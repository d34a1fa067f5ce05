/**
 * How events read, per channel format: an e-mail subject with a plain-text and an HTML body, a
 * Slack `{text}`, a Discord `{content}`, and the generic JSON (the events as they are). A digest
 * (several events in one message) lists repeats of the same event once with a count, so twenty
 * failures of one domain read as one line. Times are ISO 8601 UTC. Pure; no I/O.
 */
import { signature, type NotifyEvent } from './events';

/** Discord refuses content over 2000 characters. */
const DISCORD_LIMIT = 2000;

/** Repeats of one event (same domain, type and reason), newest last. */
export interface EventLine {
  event: NotifyEvent;
  count: number;
  first: number;
}

export function groupEvents(events: readonly NotifyEvent[]): EventLine[] {
  const lines = new Map<string, EventLine>();
  for (const event of [...events].sort((a, b) => a.time - b.time)) {
    const key = `${event.domain}\0${signature(event)}`;
    const line = lines.get(key);
    if (line) {
      line.count++;
      line.event = event;
    } else lines.set(key, { event, count: 1, first: event.time });
  }
  return [...lines.values()];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const TITLES: Record<NotifyEvent['type'], string> = {
  renewal_succeeded: 'renewed',
  renewal_failed: 'renewal failed',
  fallback_in_use: 'self-signed fallback in use',
  verify_failed: 'renewed, but the old certificate is still served',
  test: 'test message',
};

/** "example.org: renewal failed (connection)". */
export function headline(event: NotifyEvent): string {
  return `${event.domain}: ${TITLES[event.type]}${event.reason && event.type !== 'verify_failed' ? ` (${event.reason})` : ''}`;
}

/** The facts of one event, one per line, each "label: value". */
export function details(line: EventLine): string[] {
  const e = line.event;
  const out: string[] = [];
  if (line.count > 1) out.push(`${line.count} times, from ${iso(line.first)} to ${iso(e.time)}`);
  else out.push(`at ${iso(e.time)}`);
  if (e.names.length > 1 || (e.names.length === 1 && e.names[0] !== e.domain)) out.push(`names: ${e.names.join(', ')}`);
  if (e.message) out.push(e.type === 'test' ? e.message : `error: ${e.message}`);
  if (e.issuer) out.push(`issuer: ${e.issuer}`);
  if (e.notAfter !== undefined) out.push(`valid until: ${iso(e.notAfter)}`);
  if (e.verify) out.push(`verify: ${e.verify.result} (${e.verify.detail})`);
  if (e.failedRuns !== undefined) out.push(`failed runs in a row: ${e.failedRuns}`);
  if (e.retryAfter !== undefined) out.push(`the CA asked to wait until ${iso(e.retryAfter)}`);
  if (e.nextAttempt !== undefined) out.push(`next attempt: ${iso(e.nextAttempt)}`);
  if (e.type === 'fallback_in_use') out.push('federation with other servers fails while a self-signed certificate is served');
  return out;
}

export function subject(events: readonly NotifyEvent[]): string {
  const lines = groupEvents(events);
  if (lines.length === 1) {
    const line = lines[0]!;
    return `[xmpp-cert] ${headline(line.event)}${line.count > 1 ? ` (${line.count} times)` : ''}`;
  }
  return `[xmpp-cert] ${events.length} renewal events: ${summary(lines)}`;
}

/** "2 renewal failed, 1 renewed" */
function summary(lines: readonly EventLine[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(TITLES[l.event.type], (counts.get(TITLES[l.event.type]) ?? 0) + l.count);
  return [...counts].map(([title, n]) => `${n} ${title}`).join(', ');
}

export function plainText(events: readonly NotifyEvent[]): string {
  const lines = groupEvents(events);
  const intro = lines.length > 1 || events.length > 1 ? [`${events.length} events: ${summary(lines)}`, ''] : [];
  const blocks = lines.map((l) => [headline(l.event), ...details(l).map((d) => `  ${d}`)].join('\n'));
  return [...intro, blocks.join('\n\n'), '', '-- xmpp-cert'].join('\n') + '\n';
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function html(events: readonly NotifyEvent[]): string {
  const lines = groupEvents(events);
  const items = lines.map(
    (l) =>
      `<h3>${escapeHtml(headline(l.event))}</h3>\n<ul>${details(l)
        .map((d) => `<li>${escapeHtml(d)}</li>`)
        .join('')}</ul>`,
  );
  const intro = events.length > 1 ? `<p>${escapeHtml(`${events.length} events: ${summary(lines)}`)}</p>\n` : '';
  return `<!doctype html>\n<html><body>\n${intro}${items.join('\n')}\n<p>-- xmpp-cert</p>\n</body></html>\n`;
}

/** Slack mrkdwn: `&`, `<` and `>` are its only special characters. */
const escapeSlack = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slack(events: readonly NotifyEvent[]): { text: string } {
  const lines = groupEvents(events);
  const head = events.length > 1 ? [`*${escapeSlack(`${events.length} renewal events: ${summary(lines)}`)}*`] : [];
  const body = lines.map((l) => [`*${escapeSlack(headline(l.event))}*`, ...details(l).map((d) => `• ${escapeSlack(d)}`)].join('\n'));
  return { text: [...head, ...body].join('\n\n') };
}

export function discord(events: readonly NotifyEvent[]): { content: string } {
  const lines = groupEvents(events);
  const head = events.length > 1 ? [`**${events.length} renewal events: ${summary(lines)}**`] : [];
  const blocks = lines.map((l) => [`**${headline(l.event)}**`, ...details(l).map((d) => `- ${d}`)].join('\n'));
  let content = [...head, ...blocks].join('\n\n');
  if (content.length > DISCORD_LIMIT) content = `${content.slice(0, DISCORD_LIMIT - 40)}\n... (cut: see the worker's log)`;
  // Discord would turn "@everyone" in an error message into a ping.
  return { content: content.replace(/@(everyone|here)/g, '@\u200b$1') };
}

/** The generic webhook body: every event as it is, plus the same summary a human reads. */
export function generic(events: readonly NotifyEvent[]): { source: 'xmpp-cert'; version: 1; summary: string; events: NotifyEvent[] } {
  return { source: 'xmpp-cert', version: 1, summary: subject(events).replace(/^\[xmpp-cert\] /, ''), events: [...events] };
}
