/**
 * The express app: `/` (landing page), `/metrics`, `/status` (JSON report), `/healthz` (the
 * process answers) and `/readyz` (the first scan is done). Basic auth (http/basic-auth.ts) and
 * extra headers come from web-config.yml; TLS is the server's business (http/server.ts). A wrong
 * method on a known path gets 405, an unknown path 404, and a failure a plain 500 with no stack
 * (http/error-handler.ts). Reads only in-memory state.
 */
import type { TLSSocket } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config';
import { statusJson, type Report } from '../evaluate';
import { renderReport, type ExporterMetrics } from '../metrics';
import { sendExposition } from './exposition';
import { probeRoute } from './probe-route';
import type { Logger } from '../shared/log';
import { VERSION } from '../shared/version';
import { BasicAuthGate } from './basic-auth';
import { errorHandler, methodNotAllowed } from './error-handler';
import type { WebConfig } from './web-config';

export interface AppDeps {
  metrics: ExporterMetrics;
  getReport: () => Report | undefined;
  getConfig: () => Config;
  log: Logger;
  /** Read per request, so a SIGHUP reload of web-config.yml applies at once. */
  getWebConfig: () => WebConfig | undefined;
  /** Where the metrics are served (server.telemetryPath, fixed at start); default /metrics. */
  telemetryPath?: string;
}

const LINKS = [
  ['/metrics', 'Prometheus metrics'],
  ['/status', 'JSON report of every domain and file'],
  ['/probe?target=DOMAIN&module=c2s', 'probe one watched domain now (modules: c2s, s2s, c2s_tls, s2s_tls, https)'],
  ['/healthz', 'liveness'],
  ['/readyz', 'readiness (first scan done)'],
] as const;

/** The paths served besides the metrics path (GET and HEAD); another method on one of them is 405. */
const PATHS = ['/', '/status', '/probe', '/healthz', '/readyz'];

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const web = deps.getWebConfig();
    for (const [name, value] of Object.entries(web?.headers ?? {})) res.setHeader(name, value);
    const refusal = clientCertRefusal(req, web);
    if (refusal) return void res.status(403).type('text/plain').send(`${refusal}\n`);
    next();
  });
  app.use(new BasicAuthGate(deps.log).handler(() => deps.getWebConfig()?.users));

  const metricsPath = deps.telemetryPath ?? '/metrics';
  const links = LINKS.map(([href, text]) => [href === '/metrics' ? metricsPath : href, text]);
  const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  app.get('/', (_req, res) => {
    const items = links.map(([href, text]) => `<li><a href="${html(href!)}">${html(href!)}</a> ${text}</li>`).join('\n');
    res.type('html').send(`<!doctype html><html><head><meta charset="utf-8"><title>xmpp-cert-exporter</title></head>
<body><h1>xmpp-cert-exporter ${VERSION}</h1><ul>
${items}
</ul></body></html>`);
  });

  app.get(metricsPath, (req, res, next) => void sendExposition(req, res, (format, encoding) => deps.metrics.expose(format, encoding)).catch(next));

  app.get('/status', (_req, res) => {
    const report = deps.getReport();
    if (!report) return void res.status(503).json({ status: 'starting', detail: 'the first scan has not finished yet' });
    res.json(statusJson(report));
  });

  const probe = probeRoute({
    getConfig: deps.getConfig,
    getReport: deps.getReport,
    render: renderReport,
    contentType: deps.metrics.registry.contentType,
    log: deps.log,
  });
  app.get('/probe', (req, res, next) => void probe(req, res).catch(next));

  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok\n'));
  app.get('/readyz', (_req, res) => {
    const ready = deps.getReport() !== undefined;
    res
      .status(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : 'starting: first scan not finished\n');
  });

  app.use(methodNotAllowed([...PATHS, metricsPath]));
  app.use((_req, res) => void res.status(404).type('text/plain').send('not found; see / for the endpoints\n'));
  app.use(errorHandler(deps.log));
  return app;
}

/** node verifies client certificates only in RequireAndVerifyClientCert mode; the others are checked here. */
function clientCertRefusal(req: Request, web: WebConfig | undefined): string | undefined {
  const mode = web?.tls?.clientAuth;
  if (!mode || mode === 'NoClientCert' || mode === 'RequestClientCert') return undefined;
  const socket = req.socket as TLSSocket;
  const presented = typeof socket.getPeerCertificate === 'function' && Object.keys(socket.getPeerCertificate()).length > 0;
  if (mode === 'RequireAnyClientCert' && !presented) return 'a client certificate is required';
  if (mode === 'VerifyClientCertIfGiven' && presented && !socket.authorized) return `client certificate not trusted: ${String(socket.authorizationError)}`;
  return undefined;
}
