import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { freePort } from './ports';
import { closeServer, listen } from './servers';

/** One request the storage host received; `path` includes the query. */
export interface StorageRequest {
  method: string;
  path: string;
  /** The `Authorization` header as received, or null. */
  authorization: string | null;
  /** The `Cookie` header as received, or null. */
  cookie: string | null;
  status: number;
}

/** Options for `StorageHost.signedUrl`. */
export interface SignedUrlOptions {
  /** Redirects the host itself answers before the data URL (a CDN hop chain); 0 by default. */
  hops?: number;
}

/** A running blob store on 127.0.0.1 that behaves like S3 behind pre-signed URLs. */
export interface StorageHost {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every request received, in order. */
  requests: StorageRequest[];
  /** Serves `bytes` under `digest` from now on, replacing what was there (even if wrong). */
  put(digest: string, bytes: Uint8Array): void;
  /** A signed, expiring-looking URL for `digest`, optionally behind a chain of redirects. */
  signedUrl(digest: string, options?: SignedUrlOptions): string;
  /**
   * A URL for `digest` that answers 401 with a Bearer challenge naming this host's own
   * `/token` realm, the way a hostile redirect target would fish for credentials.
   */
  challengeUrl(digest: string): string;
  /** Every `X-Amz-Signature` handed out, so tests can check none was kept by the edge. */
  signatures(): string[];
  stop(): Promise<void>;
}

const DATA_PATH = /^\/data\/([0-9a-f]{64})$/;
const HOP_PATH = /^\/hop\/(\d+)\/([0-9a-f]{64})$/;
const CHALLENGE_PATH = /^\/challenge\/[0-9a-f]{64}$/;

/**
 * Starts a storage host in the manner of S3 or a CDN behind Docker Hub (case C22 of
 * CASES.md): `GET /data/<hex>?X-Amz-...&X-Amz-Signature=<sig>` answers the bytes when the
 * signature matches, `/hop/<n>/<hex>?...` redirects n more times before that. Like S3 with a
 * pre-signed URL it answers 400 XML to a request that also carries `Authorization` (or a
 * `Cookie`), and 403 to HEAD, which the signature (made for GET) does not cover. `/token`
 * hands a token to anyone; `/challenge/<hex>` sends clients there.
 */
export async function startStorageHost(): Promise<StorageHost> {
  const port = await freePort();
  const state: StorageState = {
    url: `http://127.0.0.1:${port}`,
    key: randomBytes(32),
    objects: new Map(),
    signatures: new Set(),
    requests: [],
  };
  const server = createServer((req, res) => answer(state, req, res));
  await listen(server, port);

  return {
    url: state.url,
    requests: state.requests,
    put: (digest, bytes) => state.objects.set(hexOf(digest), Buffer.from(bytes)),
    signedUrl: (digest, options = {}) => signedUrl(state, hexOf(digest), options.hops ?? 0),
    challengeUrl: (digest) => `${state.url}/challenge/${hexOf(digest)}`,
    signatures: () => [...state.signatures],
    stop: () => closeServer(server),
  };
}

interface StorageState {
  url: string;
  key: Buffer;
  objects: Map<string, Buffer>;
  signatures: Set<string>;
  requests: StorageRequest[];
}

function hexOf(digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`storage host: bad digest ${digest}`);

  return hex;
}

// Each URL gets a fresh date, hence a fresh signature, the way a registry signs per request.
function signedUrl(state: StorageState, hex: string, hops: number): string {
  const date = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
  const signature = sign(state, hex, date);
  state.signatures.add(signature);
  const query = new URLSearchParams({
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Date': date,
    'X-Amz-Expires': '1200',
    'X-Amz-SignedHeaders': 'host',
    'X-Amz-Signature': signature,
  });
  const path = hops > 0 ? `/hop/${hops}/${hex}` : `/data/${hex}`;

  return `${state.url}${path}?${query.toString()}`;
}

function sign(state: StorageState, hex: string, date: string): string {
  return createHmac('sha256', state.key).update(`GET\n${hex}\n${date}`).digest('hex');
}

function answer(state: StorageState, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const status = route(state, req, res);
  state.requests.push({
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    authorization: req.headers.authorization ?? null,
    cookie: req.headers.cookie ?? null,
    status,
  });
}

// Answers the request and returns the status it answered with.
function route(state: StorageState, req: IncomingMessage, res: ServerResponse): number {
  const url = new URL(req.url ?? '/', state.url);
  // Before the Authorization check: a realm takes what it is sent; the log shows what it was.
  if (url.pathname === '/token') return sendToken(res);
  if (req.headers.authorization !== undefined || req.headers.cookie !== undefined) {
    // S3's answer when a pre-signed URL also comes with an Authorization header.
    return sendXml(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed');
  }
  if (req.method === 'HEAD') return sendXml(res, 403, 'SignatureDoesNotMatch', 'signed for GET');
  if (req.method !== 'GET') return sendXml(res, 405, 'MethodNotAllowed', 'GET only');

  if (CHALLENGE_PATH.test(url.pathname)) return sendChallenge(state, res);

  const hop = HOP_PATH.exec(url.pathname);
  const data = DATA_PATH.exec(url.pathname);
  const hex = hop?.[2] ?? data?.[1];
  if (hex === undefined) return sendXml(res, 404, 'NoSuchKey', url.pathname);

  const date = url.searchParams.get('X-Amz-Date') ?? '';
  if (url.searchParams.get('X-Amz-Signature') !== sign(state, hex, date)) {
    return sendXml(res, 403, 'SignatureDoesNotMatch', 'the query was not passed on intact');
  }
  if (hop !== null) return redirect(res, url, Number(hop[1]), hex);

  const bytes = state.objects.get(hex);
  if (bytes === undefined) return sendXml(res, 404, 'NoSuchKey', hex);

  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length };
  res.writeHead(200, headers);
  res.end(bytes);
  return 200;
}

// The next hop of a chain. Locations alternate between path-only and absolute, so the
// client's resolution of both is exercised.
function redirect(res: ServerResponse, url: URL, hops: number, hex: string): number {
  const path = hops > 1 ? `/hop/${hops - 1}/${hex}` : `/data/${hex}`;
  const location = hops % 2 === 0 ? `${path}${url.search}` : `${url.origin}${path}${url.search}`;
  res.writeHead(307, { Location: location, 'Content-Length': 0 });
  res.end();
  return 307;
}

function sendToken(res: ServerResponse): number {
  const bytes = Buffer.from(JSON.stringify({ token: 'storage-host-token', expires_in: 300 }));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
  return 200;
}

function sendChallenge(state: StorageState, res: ServerResponse): number {
  const challenge = `Bearer realm="${state.url}/token",service="storage-host"`;
  res.setHeader('WWW-Authenticate', challenge);
  return sendXml(res, 401, 'AccessDenied', 'credentials required');
}

function sendXml(res: ServerResponse, status: number, code: string, message: string): number {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`;
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': bytes.length });
  // node:http sends no body to a HEAD, whatever end() is given.
  res.end(bytes);
  return status;
}
