/**
 * Upstream authentication, the way docker and containerd do it:
 *
 *   1. Send the request with no credentials (or a token this isolate already holds for the
 *      same realm, service and scope).
 *   2. On 401, read the `WWW-Authenticate` challenges (challenge.ts).
 *   3. Bearer: ask the challenge's realm for a token with its `service` (only when given) and
 *      the repository's pull scope, presenting the caller's Basic credentials if any.
 *      Basic: send the caller's credentials to the registry itself.
 *   4. Retry once with that `Authorization`; a second 401 is the caller's problem.
 *
 * Anonymous tokens are cached per isolate until shortly before they expire. Tokens obtained
 * with a caller's credentials are never cached, stored or logged.
 */
import { z } from 'zod';
import type { SubrequestBudget } from '../budget';
import type { AllowedRegistry } from '../config';
import { fail } from '../errors';
import type { Challenge } from './challenge';

/** Credentials a caller presented for its own upstream requests. */
export type Credentials =
  { kind: 'basic'; username: string; password: string } | { kind: 'bearer'; token: string };

/** A bearer token and the time (ms since the epoch) after which it must not be used. */
export interface Token {
  value: string;
  expiresAt: number;
}

// The token spec's default lifetime when a realm omits `expires_in`.
const DEFAULT_LIFETIME_SECONDS = 60;
// Renew this long before expiry, so a token never lapses between check and use.
const EXPIRY_MARGIN_MS = 10_000;
const MAX_CACHED_TOKENS = 1_000;

const tokenResponse = z
  .object({
    token: z.string().min(1).optional(),
    access_token: z.string().min(1).optional(),
    expires_in: z.number().positive().optional(),
    issued_at: z.string().optional(),
  })
  .refine((body) => body.token !== undefined || body.access_token !== undefined, {
    message: 'token response has neither token nor access_token',
  });

/**
 * Anonymous tokens shared by the requests this isolate serves. Module scope on purpose: an
 * isolate serves many requests, and a token fetch per request would double every pull. Only
 * tokens obtained without credentials go here, so nothing private is shared.
 */
const anonymousTokens = new Map<string, Token>();

/**
 * The `Authorization` value that answers `challenge` as `credentials` (anonymous when
 * undefined), or null when it cannot be answered that way (Basic without credentials).
 */
export async function authorize(
  registry: AllowedRegistry,
  challenge: Challenge,
  scope: string,
  credentials: Credentials | undefined,
  budget: SubrequestBudget,
): Promise<string | null> {
  if (challenge.scheme === 'basic') {
    return credentials?.kind === 'basic' ? basicHeader(credentials) : null;
  }

  if (credentials?.kind === 'bearer') return `Bearer ${credentials.token}`;
  const token = await bearerToken(registry, challenge, scope, credentials, budget);
  return `Bearer ${token.value}`;
}

/**
 * What to send before any 401, given the challenge this registry sent last time: a cached
 * anonymous token, or the caller's own credentials in the scheme the registry asked for.
 * Tokens obtained with credentials are not cached, so those requests take the 401 first.
 */
export function presetAuthorization(
  challenge: Challenge,
  scope: string,
  credentials: Credentials | undefined,
): string | undefined {
  if (credentials === undefined) {
    const token = cachedToken(challenge, scope);
    return token && `Bearer ${token.value}`;
  }
  if (credentials.kind === 'bearer') return `Bearer ${credentials.token}`;
  return challenge.scheme === 'basic' ? basicHeader(credentials) : undefined;
}

/** A cached anonymous token for this challenge and scope, if one is still fresh. */
function cachedToken(challenge: Challenge, scope: string): Token | undefined {
  const key = tokenKey(challenge, scope);
  const token = anonymousTokens.get(key);
  if (token === undefined) return undefined;
  if (token.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return token;

  anonymousTokens.delete(key);
  return undefined;
}

/** Forgets a cached token that the registry refused (expired early, or revoked). */
export function forgetToken(challenge: Challenge, scope: string): void {
  anonymousTokens.delete(tokenKey(challenge, scope));
}

async function bearerToken(
  registry: AllowedRegistry,
  challenge: Challenge,
  scope: string,
  credentials: Credentials | undefined,
  budget: SubrequestBudget,
): Promise<Token> {
  const url = tokenUrl(registry, challenge, scope);
  budget.spend(`a token request to ${registry.name}`);
  const headers = new Headers({ Accept: 'application/json' });
  if (credentials?.kind === 'basic') headers.set('Authorization', basicHeader(credentials));

  let response: Response;
  try {
    // A realm that redirects is not followed: credentials must reach only the realm itself.
    response = await fetch(url, { headers, redirect: 'manual' });
  } catch (error) {
    throw fail.unavailable(`token service of ${registry.name} cannot be reached`, 502, {
      realm: `${url.origin}${url.pathname}`,
      cause: String(error),
    });
  }

  const token = await readToken(registry, response, credentials !== undefined);
  if (credentials === undefined) remember(tokenKey(challenge, scope), token);
  return token;
}

function tokenUrl(registry: AllowedRegistry, challenge: Challenge, scope: string): URL {
  const realm = challenge.params.realm;
  if (realm === undefined || realm === '') {
    throw fail.unavailable(`registry ${registry.name} sent a Bearer challenge without a realm`);
  }

  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw fail.unavailable(`registry ${registry.name} sent an unusable token realm`);
  }
  // The realm is named by an allowed registry, but it must not downgrade to plain HTTP or
  // smuggle credentials in its URL.
  const schemeAllowed =
    url.protocol === 'https:' || (registry.insecure && url.protocol === 'http:');
  if (!schemeAllowed || url.username !== '' || url.password !== '') {
    throw fail.unavailable(`registry ${registry.name} sent a token realm the edge will not use`);
  }

  const service = challenge.params.service;
  if (service !== undefined && service !== '') url.searchParams.set('service', service);
  url.searchParams.set('scope', challenge.params.scope ?? scope);
  return url;
}

async function readToken(
  registry: AllowedRegistry,
  response: Response,
  withCredentials: boolean,
): Promise<Token> {
  // Refusing a caller's credentials is an answer about the caller; refusing an anonymous
  // request is the token service failing at its job.
  if ((response.status === 401 || response.status === 403) && withCredentials) {
    await response.body?.cancel();
    throw fail.unauthorized(`token service of ${registry.name} refused the credentials`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw fail.unavailable(`token service of ${registry.name} answered ${response.status}`);
  }

  let body: z.infer<typeof tokenResponse>;
  try {
    body = tokenResponse.parse(await response.json());
  } catch {
    throw fail.unavailable(`token service of ${registry.name} sent an unreadable token`);
  }

  const issuedAt = body.issued_at === undefined ? Number.NaN : Date.parse(body.issued_at);
  const start = Number.isFinite(issuedAt) ? Math.min(issuedAt, Date.now()) : Date.now();
  const lifetime = (body.expires_in ?? DEFAULT_LIFETIME_SECONDS) * 1000;
  return { value: (body.token ?? body.access_token) as string, expiresAt: start + lifetime };
}

function remember(key: string, token: Token): void {
  if (anonymousTokens.size >= MAX_CACHED_TOKENS) {
    const oldest = anonymousTokens.keys().next().value;
    if (oldest !== undefined) anonymousTokens.delete(oldest);
  }
  anonymousTokens.set(key, token);
}

function tokenKey(challenge: Challenge, scope: string): string {
  const { realm = '', service = '' } = challenge.params;
  return `${realm}\n${service}\n${challenge.params.scope ?? scope}`;
}

/** `Basic base64(user:password)` over the UTF-8 bytes, joined at the first colon only. */
export function basicHeader(credentials: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}
