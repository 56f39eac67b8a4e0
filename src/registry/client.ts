/**
 * HTTP to one repository of one registry: authentication (auth.ts), redirects, retries, and
 * the mapping of upstream failures to typed errors. Nothing above this module sees tokens or
 * upstream statuses; nothing in it knows about the caller's response.
 */
import type { AllowedRegistry } from '../config';
import { EdgeError, fail } from '../errors';
import type { RequestLog } from '../log';
import { authorize, cachedToken, type Credentials, forgetToken } from './auth';
import { type Challenge, parseChallenges, preferredChallenge } from './challenge';

/** What the edge wants from upstream: a manifest or a blob of this client's repository. */
export interface UpstreamRequest {
  method: 'GET' | 'HEAD';
  kind: 'manifests' | 'blobs';
  /** A tag or a digest. */
  reference: string;
  accept?: string;
  range?: string;
}

const MAX_REDIRECTS = 5;
const HEADERS_TIMEOUT_MS = 30_000;
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * The last challenge each registry sent, per isolate, so later requests can present a cached
 * token straight away instead of paying a 401 round trip first.
 */
const knownChallenges = new Map<string, Challenge>();

/** A client for one repository, for the duration of one caller's request. */
export class RegistryClient {
  private readonly scope: string;

  constructor(
    readonly registry: AllowedRegistry,
    readonly repository: string,
    private readonly log: RequestLog,
    private readonly credentials?: Credentials,
  ) {
    this.scope = `repository:${repository}:pull`;
  }

  /** Sends `request`; answers a 2xx (206 for ranges) or throws the matching `EdgeError`. */
  async send(request: UpstreamRequest): Promise<Response> {
    const url = `${this.registry.origin}/v2/${this.repository}/${request.kind}/${request.reference}`;
    const challenge = knownChallenges.get(this.registry.origin);
    const cached = challenge && !this.credentials ? cachedToken(challenge, this.scope) : undefined;

    let response = await this.exchange(url, request, cached && `Bearer ${cached.value}`);
    if (response.status === 401) {
      response = await this.answerChallenge(url, request, response, challenge);
    }
    if (response.ok) return response;

    throw await upstreamError(this.registry, request, response);
  }

  private async answerChallenge(
    url: string,
    request: UpstreamRequest,
    refused: Response,
    previous: Challenge | undefined,
  ): Promise<Response> {
    const header = refused.headers.get('WWW-Authenticate') ?? '';
    await refused.body?.cancel();

    const challenge = preferredChallenge(parseChallenges(header));
    if (challenge === undefined) {
      throw fail.unauthorized(`registry ${this.registry.name} refused access without a challenge`);
    }
    if (previous) forgetToken(previous, this.scope);
    knownChallenges.set(this.registry.origin, challenge);

    const authorization = await authorize(this.registry, challenge, this.scope, this.credentials);
    return await this.exchange(url, request, authorization);
  }

  /** One request, with redirects followed by hand so `Authorization` never leaves the host. */
  private async exchange(
    url: string,
    request: UpstreamRequest,
    authorization: string | undefined,
  ): Promise<Response> {
    let target = new URL(url);
    const origin = target.origin;

    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers = upstreamHeaders(request);
      if (authorization !== undefined && target.origin === origin) {
        headers.set('Authorization', authorization);
      }

      const response = await this.timedFetch(target, request.method, headers);
      const location = response.headers.get('Location');
      if (!isRedirect(response.status) || location === null) return response;

      await response.body?.cancel();
      target = this.redirectTarget(target, location);
    }
    throw fail.unavailable(`registry ${this.registry.name} redirected more than ${MAX_REDIRECTS} times`);
  }

  private redirectTarget(from: URL, location: string): URL {
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw fail.unavailable(`registry ${this.registry.name} redirected to an unusable URL`);
    }
    const schemeAllowed =
      next.protocol === 'https:' || (this.registry.insecure && next.protocol === 'http:');
    if (!schemeAllowed || next.username !== '' || next.password !== '') {
      throw fail.unavailable(`registry ${this.registry.name} redirected to a URL the edge refuses`);
    }
    return next;
  }

  private async timedFetch(url: URL, method: string, headers: Headers): Promise<Response> {
    const started = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), HEADERS_TIMEOUT_MS);

    try {
      return await fetch(url, { method, headers, redirect: 'manual', signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) {
        throw fail.unavailable(`registry ${this.registry.name} did not answer in time`, 504);
      }
      throw fail.unavailable(`registry ${this.registry.name} cannot be reached`, 502, {
        cause: String(error),
      });
    } finally {
      clearTimeout(timer);
      this.log.upstream(Date.now() - started);
    }
  }
}

function upstreamHeaders(request: UpstreamRequest): Headers {
  // Identity encoding: a registry or CDN that gzips a blob on the fly would hand us bytes
  // that no longer hash to their digest.
  const headers = new Headers({ 'Accept-Encoding': 'identity', 'User-Agent': 'hocker-edge' });
  if (request.accept !== undefined) headers.set('Accept', request.accept);
  if (request.range !== undefined) headers.set('Range', request.range);
  return headers;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);

/** Maps an upstream failure to the error the caller sees, keeping upstream's own words. */
async function upstreamError(
  registry: AllowedRegistry,
  request: UpstreamRequest,
  response: Response,
): Promise<EdgeError> {
  const upstream = await readErrorBody(response);
  const detail = { upstream: { status: response.status, errors: upstream.errors } };
  const what = `${request.kind === 'manifests' ? 'manifest' : 'blob'} ${request.reference}`;
  const said = upstream.message ? `: ${upstream.message}` : '';

  switch (response.status) {
    case 401:
      return new EdgeError('UNAUTHORIZED', 401, `registry ${registry.name} refused ${what}${said}`, detail);
    case 403:
      return new EdgeError('DENIED', 403, `registry ${registry.name} denied ${what}${said}`, detail);
    case 404: {
      const code = NOT_FOUND_CODES.has(upstream.code ?? '') ? upstream.code : undefined;
      const fallback = request.kind === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      return new EdgeError(
        (code ?? fallback) as 'MANIFEST_UNKNOWN',
        404,
        `${what} is not known to ${registry.name}${said}`,
        detail,
      );
    }
    case 429:
      return fail.tooManyRequests(
        `registry ${registry.name} is rate-limiting the edge${said}`,
        response.headers.get('Retry-After') ?? undefined,
      );
  }

  const status = response.status === 503 || response.status === 504 ? response.status : 502;
  const retry = response.headers.get('Retry-After');
  return new EdgeError(
    'UNAVAILABLE',
    status,
    `registry ${registry.name} answered ${response.status} for ${what}${said}`,
    detail,
    retry === null ? {} : { 'Retry-After': retry },
  );
}

async function readErrorBody(
  response: Response,
): Promise<{ code?: string; message?: string; errors?: unknown }> {
  if (response.body === null) return {};

  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  while (length < ERROR_BODY_LIMIT) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
  }
  await reader.cancel();

  const text = new TextDecoder().decode(concat(chunks).slice(0, ERROR_BODY_LIMIT));
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    return {
      code: typeof first?.code === 'string' ? first.code : undefined,
      message: typeof first?.message === 'string' ? first.message.slice(0, 300) : undefined,
      errors: body.errors,
    };
  } catch {
    return {};
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
