/**
 * Timed HTTP transfers on node:http, the same client for every path measured: a download
 * hashes and counts its body as it arrives (nothing is kept), an upload streams a file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';

/** What one download delivered and how long it took, in milliseconds from the request. */
export interface Download {
  status: number;
  bytes: number;
  /** `sha256:<hex>` of the body. */
  digest: string;
  /** Until the first body byte. */
  ttfbMs: number;
  /** Until the last body byte. */
  wallMs: number;
}

/** What one upload was answered and how long until the whole answer arrived. */
export interface Upload {
  status: number;
  wallMs: number;
}

/** GETs `url`, hashing the body on the way; rejects if it fails or lasts over `timeoutMs`. */
export function timedDownload(url: string, timeoutMs: number): Promise<Download> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method: 'GET' });
    const timer = setTimeout(() => req.destroy(timeoutError(url, timeoutMs)), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    req.once('error', fail);
    req.once('response', (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      let ttfbMs = 0;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) ttfbMs = performance.now() - start;
        hash.update(chunk);
        bytes += chunk.length;
      });
      res.once('error', fail);
      res.once('end', () => {
        // A connection cut mid-body can also end the response: only a complete one counts.
        if (!res.complete) return fail(new Error(`GET ${url}: body ended at ${bytes} bytes`));

        clearTimeout(timer);
        const digest = `sha256:${hash.digest('hex')}`;
        const wallMs = performance.now() - start;
        resolve({ status: res.statusCode ?? 0, bytes, digest, ttfbMs, wallMs });
      });
    });
    req.end();
  });
}

/** PUTs the file at `path` (`size` bytes, announced as Content-Length) to `url`. */
export async function timedUpload(
  url: string,
  path: string,
  size: number,
  timeoutMs: number,
): Promise<Upload> {
  const start = performance.now();
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) };
  const req = request(url, { method: 'PUT', headers });
  const timer = setTimeout(() => req.destroy(timeoutError(url, timeoutMs)), timeoutMs);
  const answered = new Promise<number>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      res.resume();
      res.once('error', reject);
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
  });
  try {
    const [, status] = await Promise.all([pipeline(createReadStream(path), req), answered]);
    return { status, wallMs: performance.now() - start };
  } finally {
    clearTimeout(timer);
  }
}

function timeoutError(url: string, timeoutMs: number): Error {
  return new Error(`${url} took over ${timeoutMs / 1000} s; see --timeout-seconds`);
}
