import { sha256Digest, type BuiltBlob } from './blob';
import { parseChallenge } from './challenge';
import { replyError, send, type SendBody, type SendReply } from './http-send';
import { basicAuthorization, type Credentials } from './users';

/** Where to push: a registry (or a proxy in front of one) and the credentials that push. */
export interface PushTarget {
  url: string;
  pushCredentials: Credentials;
}

// The Authorization that last worked, per target and repository, so that each push does
// not fetch a new token; a 401 with it fetches a fresh one.
const authorizations = new WeakMap<PushTarget, Map<string, string>>();

/**
 * Pushes one blob unless the registry has it: HEAD, then a monolithic upload (POST for an
 * upload URL, PUT with `?digest=`). A blob with `path` streams from disk. Resolves with what
 * happened; throws on any unexpected answer.
 */
export async function pushBlob(
  target: PushTarget,
  repo: string,
  blob: BuiltBlob,
): Promise<'exists' | 'pushed'> {
  const blobUrl = `${target.url}/v2/${repo}/blobs/${blob.digest}`;
  const head = await authorizedSend(target, repo, blobUrl, 'HEAD', {});
  if (head.status === 200) return 'exists';

  const uploadsUrl = `${target.url}/v2/${repo}/blobs/uploads/`;
  const started = await authorizedSend(target, repo, uploadsUrl, 'POST', {});
  if (started.status !== 202) throw replyError('start upload', uploadsUrl, started);

  const putUrl = withDigest(uploadsUrl, started.headers.location, blob.digest);
  const headers = { 'Content-Type': 'application/octet-stream' };
  const done = await authorizedSend(target, repo, putUrl, 'PUT', headers, blobBody(blob));
  if (done.status !== 201) throw replyError('finish upload', putUrl, done);
  expectDigest(done, blob.digest, putUrl);

  return 'pushed';
}

/**
 * PUTs manifest `bytes` as `mediaType` under `reference` (a tag or digest) and resolves with
 * the digest the registry computed, after checking it is the sha256 of `bytes`.
 */
export async function pushManifest(
  target: PushTarget,
  repo: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<string> {
  const url = `${target.url}/v2/${repo}/manifests/${reference}`;
  const headers = { 'Content-Type': mediaType };
  const reply = await authorizedSend(target, repo, url, 'PUT', headers, { bytes });
  if (reply.status !== 201) throw replyError('push manifest', url, reply);

  return expectDigest(reply, sha256Digest(bytes), url);
}

// The upload URL comes from Location, which may be relative or absolute and usually carries
// a query (`_state`) that must be kept as it is: append the digest to it.
function withDigest(base: string, location: string | undefined, digest: string): string {
  if (location === undefined) throw new Error(`start upload: ${base} answered no Location`);

  const url = new URL(location, base);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search === '' ? `?${param}` : `${url.search}&${param}`;

  return url.toString();
}

function blobBody(blob: BuiltBlob): SendBody {
  if (blob.bytes !== undefined) return { bytes: blob.bytes };
  if (blob.path !== undefined) return { path: blob.path, size: blob.size };

  throw new Error(`pushBlob: ${blob.digest} has neither bytes nor path`);
}

function expectDigest(reply: SendReply, want: string, url: string): string {
  const got = reply.headers['docker-content-digest'];
  if (got !== want) throw new Error(`${url}: Docker-Content-Digest = ${String(got)}, want ${want}`);

  return got;
}

// A token server's answer: Docker's `token`, or OAuth2's `access_token`.
interface TokenAnswer {
  token?: string;
  access_token?: string;
}

// Sends with the cached Authorization for `repo`; on a 401, authenticates as the challenge
// asks (1. Bearer: token from the realm with the push credentials; 2. Basic: the
// credentials themselves) and sends once more.
async function authorizedSend(
  target: PushTarget,
  repo: string,
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: SendBody,
): Promise<SendReply> {
  const cache = authorizationsFor(target);
  const cached = cache.get(repo);
  const first = await send(url, method, withAuthorization(headers, cached), body);
  if (first.status !== 401) return first;

  const authorization = await authorize(target, repo, first);
  cache.set(repo, authorization);

  return send(url, method, withAuthorization(headers, authorization), body);
}

function authorizationsFor(target: PushTarget): Map<string, string> {
  let cache = authorizations.get(target);
  if (cache === undefined) {
    cache = new Map();
    authorizations.set(target, cache);
  }

  return cache;
}

function withAuthorization(headers: Record<string, string>, authorization: string | undefined) {
  return authorization === undefined ? headers : { ...headers, Authorization: authorization };
}

async function authorize(target: PushTarget, repo: string, reply: SendReply): Promise<string> {
  const challenge = parseChallenge(reply.headers['www-authenticate']);
  if (challenge?.scheme === 'basic') return basicAuthorization(target.pushCredentials);
  if (challenge?.scheme !== 'bearer' || challenge.params.realm === undefined) {
    throw new Error(`push: unusable challenge ${String(reply.headers['www-authenticate'])}`);
  }

  const tokenUrl = new URL(challenge.params.realm);
  if (challenge.params.service !== undefined) {
    tokenUrl.searchParams.set('service', challenge.params.service);
  }
  tokenUrl.searchParams.set('scope', `repository:${repo}:pull,push`);
  const headers = { Authorization: basicAuthorization(target.pushCredentials) };
  const answer = await send(tokenUrl.toString(), 'GET', headers);
  if (answer.status !== 200) throw replyError('push token', tokenUrl.toString(), answer);

  const json = JSON.parse(answer.body.toString('utf8')) as TokenAnswer;

  return `Bearer ${json.token ?? json.access_token ?? ''}`;
}
