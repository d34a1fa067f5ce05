/**
 * External account binding against a real Pebble 2.4 that requires it: without EAB the account is
 * refused (externalAccountRequired -> unauthorized); with the kid and HMAC key, inline or from a
 * file, a certificate is issued. The HMAC key never appears in the error or the log.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AcmeIssuerConfig } from '../../src/config/renewal-schema';
import { createAcmeIssuer } from '../../src/renewal/issuers/acme';
import type { Issuer } from '../../src/renewal/types';
import { RenewalError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { describeWithTools } from '../helpers/tools';

const HMAC = crypto.randomBytes(32).toString('base64url');
const GROUP = { name: 'eab.example.test', domains: ['eab.example.test'] };

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'ACME issuer with external account binding (Pebble)', () => {
  let pebble: RunningPebble;
  let work: string;
  const issuers: Issuer[] = [];
  const logLines: string[] = [];
  const log = createLogger('debug', { write: (line: string) => void logLines.push(line) });

  beforeAll(async () => {
    pebble = await startPebble({ eab: { 'kid-1': HMAC } });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-eab-'));
  });

  afterAll(async () => {
    await Promise.all(issuers.map((i) => i.close?.() ?? Promise.resolve()));
    await pebble?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  function issuer(eab: AcmeIssuerConfig['eab'], stateDir: string): Issuer {
    const created = createAcmeIssuer(
      {
        type: 'acme',
        directory: pebble.directoryUrl,
        keyType: 'ecdsa-p256',
        ca: [pebble.caFile],
        challenge: { type: 'http-01', listen: { host: '127.0.0.1', port: pebble.httpPort } },
        ...(eab ? { eab } : {}),
      },
      { stateDir: path.join(work, stateDir), testMode: false },
      log,
    );
    issuers.push(created);
    return created;
  }

  test('without EAB: unauthorized, naming the domain', async () => {
    const err = await issuer(undefined, 'none')
      .issue(GROUP, { log })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RenewalError);
    expect((err as RenewalError).reason).toBe('unauthorized');
    expect((err as RenewalError).message).toContain('eab.example.test');
    expect((err as RenewalError).message).toContain('externalAccountRequired');
  });

  test('with EAB inline: issued', async () => {
    const pair = await issuer({ kid: 'kid-1', hmacKey: HMAC }, 'inline').issue(GROUP, { log });
    expect(new crypto.X509Certificate(pair.certificatePem).subjectAltName).toBe('DNS:eab.example.test');
  });

  test('with EAB from a key file; a wrong key is refused; the key is never logged', async () => {
    const keyFile = path.join(work, 'hmac.key');
    fs.writeFileSync(keyFile, `${HMAC}\n`, { mode: 0o600 });
    await issuer({ kid: 'kid-1', hmacKeyFile: keyFile }, 'file').issue(GROUP, { log });
    const wrong = crypto.randomBytes(32).toString('base64url');
    const err = (await issuer({ kid: 'kid-1', hmacKey: wrong }, 'wrong')
      .issue(GROUP, { log })
      .catch((e: unknown) => e)) as RenewalError;
    expect(err.reason).toBe('unauthorized');
    expect(err.message).not.toContain(wrong);
    expect(logLines.join('\n')).not.toContain(HMAC);
    expect(logLines.join('\n')).not.toContain(wrong);
  });
});
