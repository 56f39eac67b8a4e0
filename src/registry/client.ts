/**
 * HTTP to one repository of one registry: authentication (auth.ts), redirects, retries, and
 * failures turned into typed errors (upstream-error.ts). Nothing above this module sees
 * tokens or upstream statuses; nothing in it knows about the caller's response.
 */
import type { SubrequestBudget } from '../budget';
import type { AllowedRegistry } from '../config';
import { fail } from '../errors';
import type { RequestLog } from '../log';
import { authorize, type Credentials, forgetToken, presetAuthorization } from './auth';
import { type Challenge, parseChallenges, preferredChallenge } from './challenge';
import { isHeadRefused, upstreamError, webPageInstead } from './upstream-error';

/** What the edge wants from upstream: a manifest or a blob of this client's repository. */
export interface UpstreamRequest {
  method: 'GET' | 'HEAD';
  kind: 'manifests' | 'blobs' | 'tags';
  /** A tag or a digest (`list` for tags). */
  reference: string;
  /** Query parameters to pass on (tag list paging), already validated by the caller. */
  query?: URLSearchParams;
  accept?: string;
  range?: string;
  /** 'report' answers a redirect itself instead of following it (for access checks). */
  redirects?: 'follow' | 'report';
}

/** An upstream answer, and whether the caller's credentials were needed to get it. */
export interface UpstreamAnswer {
  response: Response;
  credentialed: boolean;
}

const MAX_REDIRECTS = 5;
const HEADERS_TIMEOUT_MS = 30_000;

/**
 * The last challenge each registry sent, per isolate, so later requests can present a cached
 * token straight away instead of paying a 401 round trip first.
 */
const knownChallenges = new Map<string, Challenge>();

/**
 * Repositories that refused anonymous access recently, per isolate: for them the anonymous
 * try is skipped. Only names are kept here, never credentials.
 */
const privateScopes = new Set<string>();
const MAX_PRIVATE_SCOPES = 1_000;

function remember(set: Set<string>, key: string): void {
  if (set.size >= MAX_PRIVATE_SCOPES) set.clear();
  set.add(key);
}

/** Statuses with which a registry says "not without credentials". */
function isRefusal(status: number): boolean {
  return status === 401 || status === 403;
}

/** Where a client accounts for its requests: the caller's request log and budget. */
export interface Meter {
  log: RequestLog;
  budget: SubrequestBudget;
}

/** A client for one repository, for the duration of one caller's request. */
export class RegistryClient {
  private readonly scope: string;

  constructor(
    readonly registry: AllowedRegistry,
    readonly repository: string,
    private readonly meter: Meter,
    private readonly credentials?: Credentials,
  ) {
    this.scope = `repository:${repository}:pull`;
  }

  /**
   * Sends `request`; answers a 2xx (206 for ranges) or throws the matching `EdgeError`.
   * Anonymous access is tried first, so public content stays marked shareable; the caller's
   * credentials are used only when the registry refuses to answer without them.
   */
  async send(request: UpstreamRequest): Promise<UpstreamAnswer> {
    const query = request.query?.size ? `?${request.query.toString()}` : '';
    const path = `/v2/${this.repository}/${request.kind}/${request.reference}${query}`;
    const url = `${this.registry.origin}${path}`;
    const needsCredentials = this.credentials !== undefined && privateScopes.has(this.scopeKey());

    if (!needsCredentials) {
      const anonymous = await this.attempt(url, request, undefined);
      if (this.credentials === undefined || !isRefusal(anonymous.status)) {
        return await this.accept(anonymous, request, false);
      }
      await anonymous.body?.cancel();
    }

    const authenticated = await this.attempt(url, request, this.credentials);
    if (authenticated.ok) remember(privateScopes, this.scopeKey());
    return await this.accept(authenticated, request, true);
  }

  /**
   * A HEAD of `request`; where the registry refuses HEAD itself, a GET whose body is dropped,
   * so the caller still learns the status and headers.
   */
  async head(request: Omit<UpstreamRequest, 'method'>): Promise<UpstreamAnswer> {
    try {
      return await this.send({ ...request, method: 'HEAD' });
    } catch (error) {
      if (!isHeadRefused(error)) throw error;
    }
    const answer = await this.send({ ...request, method: 'GET' });
    await answer.response.body?.cancel();
    return answer;
  }

  private async accept(response: Response, request: UpstreamRequest, credentialed: boolean) {
    const page = webPageInstead(this.registry, request, response);
    if (page !== null) {
      await response.body?.cancel();
      throw page;
    }
    if (response.ok || (request.redirects === 'report' && isRedirect(response.status))) {
      return { response, credentialed };
    }
    throw await upstreamError(this.registry, request, response, credentialed);
  }

  /**
   * One try as `credentials` (anonymous when undefined): with the token or Basic header the
   * last challenge calls for, and on a 401 once more after answering the fresh challenge.
   */
  private async attempt(
    url: string,
    request: UpstreamRequest,
    credentials: Credentials | undefined,
  ): Promise<Response> {
    const known = knownChallenges.get(this.registry.origin);
    const preset = known && presetAuthorization(known, this.scope, credentials);
    const response = await this.exchange(url, request, preset);
    if (response.status !== 401) return response;

    const challenge = preferredChallenge(
      parseChallenges(response.headers.get('WWW-Authenticate') ?? ''),
    );
    if (challenge === undefined) return response;
    if (known) forgetToken(known, this.scope);
    knownChallenges.set(this.registry.origin, challenge);

    const authorization = await authorize(
      this.registry,
      challenge,
      this.scope,
      credentials,
      this.meter.budget,
    );
    // Nothing new to offer: sending refused credentials again would only count as another
    // failed login on registries that lock accounts.
    if (authorization === null || authorization === preset) return response;

    await response.body?.cancel();
    return await this.exchange(url, request, authorization);
  }

  private scopeKey(): string {
    return `${this.registry.origin}/${this.repository}`;
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

      const response = await this.fetchWithShortRetry(target, request.method, headers);
      const location = response.headers.get('Location');
      if (!isRedirect(response.status) || location === null) {
        if (target.origin === origin || response.ok) return response;

        // A redirect target that refuses is the registry's storage failing, not an answer
        // about the caller: its 401 or 403 must start no credential retry, and a challenge
        // it sends must never be answered with the caller's credentials.
        await response.body?.cancel();
        throw fail.unavailable(
          `registry ${this.registry.name} sent ${request.kind} to ${target.host}, ` +
            `which answered ${response.status}`,
        );
      }
      if (request.redirects === 'report') return response;

      await response.body?.cancel();
      target = this.redirectTarget(target, location);
    }
    throw fail.unavailable(
      `registry ${this.registry.name} redirected more than ${MAX_REDIRECTS} times`,
    );
  }

  /**
   * One fetch, repeated once when the registry asks for a short pause (429 or 503 with a
   * `Retry-After` of a few seconds at most); longer waits are the caller's to decide.
   */
  private async fetchWithShortRetry(url: URL, method: string, headers: Headers) {
    const response = await this.timedFetch(url, method, headers);
    const wait = shortRetryAfter(response);
    if (wait === null) return response;

    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, wait));
    return await this.timedFetch(url, method, headers);
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
    this.meter.budget.spend(`a request to ${this.registry.name}`);
    const started = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), HEADERS_TIMEOUT_MS);

    try {
      const response = await fetch(url, {
        method,
        headers,
        redirect: 'manual',
        signal: abort.signal,
      });
      // Docker Hub counts pulls per IP, and Workers share theirs: keep the quota in sight.
      const remaining = response.headers.get('RateLimit-Remaining');
      if (remaining !== null)
        this.meter.log.set({ upstreamRateLimitRemaining: remaining.slice(0, 64) });
      return response;
    } catch (error) {
      if (abort.signal.aborted) {
        throw fail.unavailable(`registry ${this.registry.name} did not answer in time`, 504);
      }
      throw fail.unavailable(`registry ${this.registry.name} cannot be reached`, 502, {
        cause: String(error),
      });
    } finally {
      clearTimeout(timer);
      this.meter.log.upstream(Date.now() - started);
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

const MAX_SHORT_RETRY_MS = 2_000;

/** The pause a 429 or 503 asks for, in ms, if it is short enough to wait out; else null. */
function shortRetryAfter(response: Response): number | null {
  if (response.status !== 429 && response.status !== 503) return null;

  const value = response.headers.get('Retry-After')?.trim() ?? '';
  if (!/^\d+$/.test(value)) return null;
  const ms = Number(value) * 1000;
  return ms <= MAX_SHORT_RETRY_MS ? ms : null;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}
