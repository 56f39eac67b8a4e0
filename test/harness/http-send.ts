import { createReadStream } from 'node:fs';
import { request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';

/** A request body: bytes in memory, or a file streamed with its known length. */
export type SendBody = { bytes: Uint8Array } | { path: string; size: number };

/** A finished response with its (small) body read. */
export interface SendReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

// Replies are registry JSON and error bodies; anything bigger is a bug worth stopping at.
const REPLY_LIMIT = 1024 * 1024;

/**
 * Sends one plain-HTTP request with node:http and reads the reply. A file body streams from
 * disk with Content-Length set, so no blob is ever held in memory.
 */
export async function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: SendBody,
): Promise<SendReply> {
  const req = request(url, { method, headers: { ...headers, ...lengthHeader(body) } });
  const reply = new Promise<SendReply>((resolve, reject) => {
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > REPLY_LIMIT) res.destroy(new Error(`${method} ${url}: reply over 1 MiB`));
        else chunks.push(chunk);
      });
      res.once('error', reject);
      res.once('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.once('error', reject);
  });
  await Promise.all([writeBody(req, body), reply]);

  return reply;
}

function lengthHeader(body: SendBody | undefined): Record<string, string> {
  if (body === undefined) return {};

  return { 'Content-Length': String('bytes' in body ? body.bytes.length : body.size) };
}

async function writeBody(req: ClientRequest, body: SendBody | undefined): Promise<void> {
  if (body === undefined) {
    req.end();
    return;
  }
  if ('bytes' in body) {
    req.end(body.bytes);
    return;
  }

  await pipeline(createReadStream(body.path), req);
}

/** An Error that names the failed request, its status and the start of its reply body. */
export function replyError(what: string, url: string, reply: SendReply): Error {
  const text = reply.body.subarray(0, 2048).toString('utf8');

  return new Error(`${what}: ${url} answered ${reply.status}: ${text}`);
}
