/**
 * The caller's own credentials, from its `Authorization` header. They are used for that
 * caller's upstream requests only (see registry/auth.ts), and never stored or logged.
 */
import type { Credentials } from './registry/auth';
import { EdgeError } from './errors';

/** The realm this edge challenges callers with, so clients offer the credentials they hold. */
export const EDGE_CHALLENGE = 'Basic realm="hocker-edge"';

/**
 * Reads `Authorization`: Basic (user and password, split at the first colon) or Bearer.
 * Absent, or Basic with an empty user and password (what some clients send when they hold
 * none), means anonymous. Anything else is a 401 that says so.
 */
export function callerCredentials(header: string | undefined): Credentials | undefined {
  if (header === undefined || header.trim() === '') return undefined;

  const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') {
    if (value === '') throw malformed('Bearer needs a token');
    return { kind: 'bearer', token: value };
  }
  if (scheme.toLowerCase() !== 'basic') throw malformed(`scheme '${scheme}' is not supported`);

  const text = decodeBase64Utf8(value);
  const colon = text.indexOf(':');
  if (colon < 0) throw malformed('Basic credentials must be base64 of user:password');

  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (username === '' && password === '') return undefined;
  return { kind: 'basic', username, password };
}

function decodeBase64Utf8(value: string): string {
  try {
    const binary = atob(value);
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw malformed('Basic credentials are not valid base64 of UTF-8 text');
  }
}

function malformed(message: string): EdgeError {
  return new EdgeError('UNAUTHORIZED', 401, `Authorization header: ${message}`, undefined, {
    'WWW-Authenticate': EDGE_CHALLENGE,
  });
}
