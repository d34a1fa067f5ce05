/**
 * An SMTP server of the test's own on loopback (npm smtp-server) that keeps every message it
 * accepts, parsed by mailparser. Optional: STARTTLS with a given certificate (then AUTH is only
 * offered after STARTTLS, so a login proves the upgrade) or implicit TLS, AUTH against a
 * user/password, and recipients it refuses with 550. `stop()` closes it; `start()` listens again on the same port,
 * for "the server is back" tests. Usable by any test that receives mail (nodemailer, Alertmanager).
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface SmtpCaptureOptions {
  /** PEM certificate and key for STARTTLS; without them the server offers no STARTTLS. */
  tls?: { cert: string; key: string };
  /** With `tls`: implicit TLS from the first byte (SMTPS) instead of STARTTLS. */
  implicitTls?: boolean;
  /** Required login; without it AUTH is not offered and any sender is accepted. */
  auth?: { user: string; password: string };
  /** Recipients refused with "550 no such user". */
  refuse?: (address: string) => boolean;
  /** Fixed port (default: one picked by the OS at the first start). */
  port?: number;
}

export interface CapturedMail {
  parsed: ParsedMail;
  /** Whether the session had been upgraded to TLS when the message arrived. */
  secure: boolean;
  /** The authenticated user, if any. */
  user?: string;
  envelopeTo: string[];
}

export interface SmtpCapture {
  readonly port: number;
  readonly mails: CapturedMail[];
  /** Failed logins seen (user names only). */
  readonly failedLogins: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSmtpCapture(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
  const mails: CapturedMail[] = [];
  const failedLogins: string[] = [];
  let port = options.port ?? 0;
  let server: SMTPServer | undefined;

  const serverOptions = (): SMTPServerOptions => ({
    logger: false,
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert, secure: options.implicitTls === true } : {}),
    authOptional: !options.auth,
    // AUTH only over TLS when TLS is offered: a login then proves that STARTTLS happened.
    allowInsecureAuth: !options.tls,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.password) return callback(null, { user: auth.username });
      failedLogins.push(auth.username ?? '');
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (options.refuse?.(address.address)) return callback(Object.assign(new Error(`5.1.1 <${address.address}>: no such user here`), { responseCode: 550 }));
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({
            parsed,
            secure: session.secure,
            ...(session.user ? { user: String(session.user) } : {}),
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });

  const capture: SmtpCapture = {
    get port() {
      return port;
    },
    mails,
    failedLogins,
    async start() {
      const s = new SMTPServer(serverOptions());
      s.on('error', () => undefined); // a client that drops the connection is not the test's failure
      await new Promise<void>((resolve, reject) => {
        s.server.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.server.address() as AddressInfo).port;
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await capture.start();
  return capture;
}
