import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What the fault proxy does wrong. `times` limits a fault to the first N requests it applies
 * to (then the proxy is healthy again); without it, the fault stays until replaced.
 */
export type Fault =
  /** Flips one byte in the middle of GET .../blobs/<digest>; Content-Length is kept. */
  | { kind: 'flip'; digest: string; times?: number }
  /** Sends the first `afterBytes` of GET .../blobs/<digest>, then closes the connection. */
  | { kind: 'cut'; digest: string; afterBytes: number; times?: number }
  /**
   * Answers `status` itself, without asking the registry, for paths matching `match` (and
   * only for `methods`, when given).
   */
  | {
      kind: 'status';
      status: number;
      headers?: Record<string, string>;
      body?: string;
      match?: RegExp;
      methods?: readonly ('GET' | 'HEAD')[];
      times?: number;
    }
  /** Relays the registry's answer without `header`, for paths matching `match` and `methods`. */
  | {
      kind: 'drop-header';
      header: string;
      match?: RegExp;
      methods?: readonly ('GET' | 'HEAD')[];
      times?: number;
    }
  /** Waits `ms` before forwarding requests whose path matches `match`. */
  | { kind: 'delay'; ms: number; match?: RegExp; times?: number }
  /**
   * Answers GET .../blobs/<digest> with `status` (307 by default) and `Location: location`,
   * the way registries hand blobs to a CDN or S3. The registry is asked first, so it still
   * checks credentials: only its 200 becomes the redirect, and only that counts for `times`.
   * `methods` widens the fault to HEAD.
   */
  | {
      kind: 'redirect';
      digest: string;
      location: string;
      status?: RedirectStatus;
      methods?: readonly ('GET' | 'HEAD')[];
      times?: number;
    };

/** The statuses with which HTTP redirects a request. */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

/** A JSON error body in the OCI distribution shape, for `status` faults. */
export function ociErrorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

/**
 * Whether `fault` concerns a request for `method` and `path` (with query). Byte faults hit
 * GETs of their blob only, redirects the `methods` asked for; the others hit every path
 * `match` accepts (all by default).
 */
export function faultApplies(fault: Fault, method: string, path: string): boolean {
  const isBlob = (digest: string) => path.split('?')[0]?.endsWith(`/blobs/${digest}`) === true;
  if (fault.kind === 'flip' || fault.kind === 'cut') {
    return method === 'GET' && isBlob(fault.digest);
  }
  if (fault.kind === 'redirect') {
    const methods: readonly string[] = fault.methods ?? ['GET'];
    return methods.includes(method) && isBlob(fault.digest);
  }

  const methods: readonly string[] | undefined = fault.kind === 'delay' ? undefined : fault.methods;
  const methodApplies = methods === undefined || methods.includes(method);
  return methodApplies && (fault.match === undefined || fault.match.test(path));
}

/** Answers a `status` fault; the request body is drained so the connection stays usable. */
export function answerStatus(
  fault: Extract<Fault, { kind: 'status' }>,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  req.resume();
  const body = Buffer.from(fault.body ?? '', 'utf8');
  const type = fault.body?.startsWith('{') === true ? 'application/json' : 'text/plain';
  const headers = { 'Content-Type': type, ...fault.headers, 'Content-Length': body.length };
  res.writeHead(fault.status, headers);
  res.end(body);
}

/** Answers a `redirect` fault in place of the registry's 200, whose body is dropped. */
export function answerRedirect(
  fault: Extract<Fault, { kind: 'redirect' }>,
  upstream: IncomingMessage,
  res: ServerResponse,
): void {
  upstream.destroy();
  res.writeHead(fault.status ?? 307, { Location: fault.location, 'Content-Length': 0 });
  res.end();
}

/**
 * Relays `upstream` to `res` with the byte at offset floor(length / 2) inverted, `length`
 * being the announced Content-Length (the first byte when none is announced).
 */
export async function relayFlipped(upstream: IncomingMessage, res: ServerResponse): Promise<void> {
  const length = Number(upstream.headers['content-length'] ?? '0');
  const target = Math.floor(length / 2);
  let offset = 0;
  for await (const chunk of upstream as AsyncIterable<Buffer>) {
    const inChunk = target - offset;
    const out = inChunk >= 0 && inChunk < chunk.length ? invertByte(chunk, inChunk) : chunk;
    offset += chunk.length;
    await write(res, out);
  }
  res.end();
}

function invertByte(chunk: Buffer, index: number): Buffer {
  const copy = Buffer.from(chunk);
  copy[index] = (copy[index] ?? 0) ^ 0xff;

  return copy;
}

/**
 * Relays the first `afterBytes` of `upstream` to `res`, then ends the connection while the
 * announced Content-Length is still unmet, the way a reset mid-blob looks to a client.
 */
export async function relayCut(
  upstream: IncomingMessage,
  res: ServerResponse,
  afterBytes: number,
): Promise<void> {
  let sent = 0;
  res.flushHeaders();
  for await (const chunk of upstream as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, afterBytes - sent);
    sent += part.length;
    await write(res, part);
    if (sent >= afterBytes) break;
  }
  upstream.destroy();
  // end() on the socket sends what is queued, then FIN; the response never completes.
  res.socket?.end();
}

// Waits for 'drain' so a slow client slows the relay; a client that hung up ends the wait.
async function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.write(chunk)) return;

  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
