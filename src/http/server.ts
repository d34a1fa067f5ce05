/**
 * Serves the app over HTTP, or HTTPS when web-config.yml has tls_server_config (versions, cipher
 * suites, curves and their order as http/web-config.ts made them node options). A reload swaps the
 * TLS certificate and those settings in place (setSecureContext), so rotating the exporter's own
 * certificate needs no restart; client_auth_type does. close() stops accepting, lets running
 * requests finish, then resolves.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { XmppCertError } from '../shared/errors';
import type { WebConfig } from './web-config';

/** Why a listen failed, in words, with what to do; the errno stays the error's cause. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another exporter, or another program, listens there): stop it or choose another with --web.listen-address',
  EACCES: 'permission denied (ports below 1024 need privileges): choose a port above 1024 with --web.listen-address',
  EADDRNOTAVAIL: 'this host has no such address: use one of its own addresses, or :PORT for all of them',
  ENOTFOUND: 'the host name does not resolve: use an IP address, or :PORT for all addresses',
  EAI_AGAIN: 'the host name does not resolve: use an IP address, or :PORT for all addresses',
};

export function listenError(err: NodeJS.ErrnoException, listen: { host: string; port: number }): Error {
  const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
  return new XmppCertError(`cannot listen on ${where}: ${why} (server.listen)`, { cause: err });
}

export interface RunningServer {
  /** host:port actually bound (port 0 picks a free one). */
  address: string;
  url: string;
  updateTls(web: WebConfig | undefined): void;
  close(): Promise<void>;
}

export async function startServer(app: express.Express, listen: { host: string; port: number }, web: WebConfig | undefined): Promise<RunningServer> {
  const tls = web?.tls;
  const server = tls ? https.createServer({ ...tls }, app) : http.createServer(app);
  server.keepAliveTimeout = 65_000; // longer than Prometheus' idle timeout, so it reuses connections
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, listen));
    server.once('error', failed);
    server.listen(listen.port, listen.host || undefined, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const shownHost = listen.host === '' ? 'localhost' : host;
  return {
    address: `${host}:${bound.port}`,
    url: `${tls ? 'https' : 'http'}://${shownHost}:${bound.port}`,
    updateTls(next) {
      if (tls && next?.tls && server instanceof https.Server) server.setSecureContext({ ...next.tls });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
