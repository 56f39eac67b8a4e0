import { sign, type KeyObject } from 'node:crypto';

/** The decoded parts of a compact JWS, for tests that inspect what a token grants. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/**
 * Signs `claims` as a compact JWT with ES256 (P-256, SHA-256). JOSE wants the raw r||s
 * signature, not the DER that node produces by default, hence `ieee-p1363`.
 */
export function signEs256Jwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: KeyObject,
): string {
  const head = base64url(JSON.stringify({ ...header, alg: 'ES256' }));
  const body = base64url(JSON.stringify(claims));
  const input = `${head}.${body}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });

  return `${input}.${signature.toString('base64url')}`;
}

/** Decodes a compact JWT's header and claims without checking its signature. */
export function decodeJwt(token: string): DecodedJwt {
  const [head, body] = token.split('.');
  if (head === undefined || body === undefined) throw new Error(`not a JWT: ${token}`);

  return {
    header: JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
