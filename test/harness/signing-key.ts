import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTool, runChecked } from './tools';

/** An EC P-256 private key and its self-signed certificate, both also on disk. */
export interface SigningKey {
  key: KeyObject;
  keyPath: string;
  /** PEM certificate: distribution's `rootcertbundle`. */
  certPath: string;
  /** The certificate as base64 DER, the form a JWS `x5c` header carries. */
  certBase64Der: string;
}

/**
 * Generates a fresh P-256 key and a self-signed certificate in `dir` with the openssl CLI.
 * distribution trusts a token when its `x5c` certificate chains to the root bundle, and a
 * self-signed certificate is its own root.
 */
export async function createSigningKey(dir: string, commonName: string): Promise<SigningKey> {
  const openssl = requireTool('openssl');
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  const curve = ['-name', 'prime256v1'];
  await runChecked(openssl, ['ecparam', ...curve, '-genkey', '-noout', '-out', keyPath]);
  await runChecked(openssl, [
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    `/CN=${commonName}`,
  ]);

  const key = createPrivateKey(await readFile(keyPath));
  const cert = new X509Certificate(await readFile(certPath));

  return { key, keyPath, certPath, certBase64Der: cert.raw.toString('base64') };
}
