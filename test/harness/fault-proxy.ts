import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  answerRedirect,
  answerStatus,
  faultApplies,
  relayCut,
  relayFlipped,
  type Fault,
} from './faults';
import { freePort } from './ports';
import { closeServer, listen } from './servers';

export { ociErrorBody, type Fault, type RedirectStatus } from './faults';

/** One request the proxy received; `path` includes the query. */
export interface ProxiedRequest {
  method: string;
  path: string;
}

/** A running fault proxy in front of one registry. */
export interface FaultProxy {
  /** `127.0.0.1:PORT`, as it appears in an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every request received, in order, faulted or not. */
  requests: ProxiedRequest[];
  /** The requests among them that carried an `Authorization` header, in order. */
  authorized: ProxiedRequest[];
  /** Sets the fault to apply from now on; null makes the proxy healthy. */
  set(fault: Fault | null): void;
  stop(): Promise<void>;
}

// Headers that describe one connection and must not be relayed across the proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Starts an HTTP proxy on 127.0.0.1 that relays every request to `registryUrl` (bodies
 * streamed both ways) and applies the current fault. Locations pointing at the registry
 * are rewritten to point at the proxy; WWW-Authenticate is relayed untouched.
 */
export async function startFaultProxy(registryUrl: string): Promise<FaultProxy> {
  const port = await freePort();
  const state: ProxyState = {
    upstream: new URL(registryUrl),
    self: `http://127.0.0.1:${port}`,
    fault: null,
    remaining: Infinity,
    requests: [],
    authorized: [],
  };
  const server = createServer((req, res) => {
    relay(state, req, res).catch((err: unknown) => failRelay(res, asError(err)));
  });
  await listen(server, port);

  return {
    host: `127.0.0.1:${port}`,
    url: state.self,
    requests: state.requests,
    authorized: state.authorized,
    set: (fault) => {
      state.fault = fault;
      state.remaining = fault?.times ?? Infinity;
    },
    stop: () => closeServer(server),
  };
}

interface ProxyState {
  upstream: URL;
  self: string;
  fault: Fault | null;
  remaining: number;
  requests: ProxiedRequest[];
  authorized: ProxiedRequest[];
}

// Takes the current fault for this request when it applies, counting down its `times`. A
// redirect counts only when it replaces a 200 (see relay): the requests the registry
// refuses for want of a token do not use it up.
function takeFault(state: ProxyState, method: string, path: string): Fault | null {
  const fault = state.fault;
  if (fault === null || state.remaining <= 0 || !faultApplies(fault, method, path)) return null;

  if (fault.kind !== 'redirect') spend(state, fault);

  return fault;
}

function spend(state: ProxyState, fault: Fault): void {
  // A fault replaced while its request was under way leaves the new one's count alone.
  if (state.fault !== fault) return;

  state.remaining--;
  if (state.remaining <= 0) state.fault = null;
}

async function relay(state: ProxyState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  state.requests.push({ method, path });
  if (req.headers.authorization !== undefined) state.authorized.push({ method, path });
  const fault = takeFault(state, method, path);
  if (fault?.kind === 'status') {
    answerStatus(fault, req, res);
    return;
  }
  if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));

  // Host and port are fixed and the path is passed as it came: whatever the path says, the
  // request goes to the registry only.
  const upstreamReq = request({
    hostname: state.upstream.hostname,
    port: state.upstream.port,
    path,
    method,
    headers: { ...relayedHeaders(req.headers), host: state.upstream.host },
  });
  upstreamReq.on('response', (upstream) => {
    if (fault?.kind === 'redirect' && upstream.statusCode === 200) {
      spend(state, fault);
      answerRedirect(fault, upstream, res);
      return;
    }
    respond(state, fault, upstream, res).catch(() => res.destroy());
  });
  upstreamReq.on('error', (err) => failRelay(res, err));
  res.on('close', () => upstreamReq.destroy());
  req.pipe(upstreamReq);
}

async function respond(
  state: ProxyState,
  fault: Fault | null,
  upstream: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const headers = relayedHeaders(upstream.headers);
  if (fault?.kind === 'drop-header') delete headers[fault.header.toLowerCase()];
  const location = upstream.headers.location;
  if (location !== undefined) headers.location = rewriteLocation(state, location);
  res.writeHead(upstream.statusCode ?? 502, headers);
  const ok = upstream.statusCode === 200 || upstream.statusCode === 206;
  if (ok && fault?.kind === 'flip') return relayFlipped(upstream, res);
  if (ok && fault?.kind === 'cut') return relayCut(upstream, res, fault.afterBytes);

  upstream.pipe(res);
}

function relayedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) kept[name] = value;
  }

  return kept;
}

// Only absolute URLs on the registry's origin change; relative ones already resolve against
// the proxy, and other hosts (a CDN a registry redirects to) are left alone.
function rewriteLocation(state: ProxyState, location: string): string {
  const url = URL.canParse(location) ? new URL(location) : null;
  if (url === null || url.origin !== state.upstream.origin) return location;

  return `${state.self}${url.pathname}${url.search}${url.hash}`;
}

function failRelay(res: ServerResponse, err: Error): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }

  res.writeHead(502, { 'Content-Type': 'text/plain' });
  res.end(`fault proxy: registry unreachable: ${err.message}\n`);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
