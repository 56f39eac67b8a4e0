/**
 * A blob, from wherever it is: R2 when cached and intact, else upstream through the verifier,
 * written behind into R2 as it streams. The KV record (when a manifest introduced the blob)
 * supplies the size that the bytes must have.
 */
import { type Digest } from '../digest';
import { fail } from '../errors';
import { logEvent } from '../log';
import type { Reference } from '../reference';
import { type Context, clientFor } from '../resolve';
import { verifiedStream } from './verify';

/** A blob ready to answer with: its size, media type, and (for GET) its bytes. */
export interface OpenedBlob {
  /** Null only when neither upstream nor a manifest said (the bytes are then not cached). */
  size: number | null;
  mediaType: string | null;
  source: 'cache' | 'upstream';
  /** Null for HEAD. */
  body: ReadableStream<Uint8Array> | null;
}

/** Opens a blob of `reference`'s repository for GET (`withBody`) or HEAD. */
export async function openBlob(
  ctx: Context,
  reference: Reference,
  digest: Digest,
  withBody: boolean,
): Promise<OpenedBlob> {
  const record = await ctx.store.blobRecord(digest);
  const expectedSize = record?.size;
  const mediaType = record?.mediaType ?? null;

  const cached = withBody
    ? await ctx.store.blob(digest, expectedSize)
    : await ctx.store.blobHead(digest, expectedSize);
  if (cached !== null) {
    ctx.log.set({ cache: 'hit', bytes: cached.size });
    const body = withBody ? (cached as R2ObjectBody).body : null;
    return { size: cached.size, mediaType, source: 'cache', body };
  }

  ctx.log.set({ cache: 'miss' });
  const client = clientFor(ctx, reference);
  const response = await client.send({
    method: withBody ? 'GET' : 'HEAD',
    kind: 'blobs',
    reference: digest,
  });
  const size = upstreamSize(response, expectedSize, digest);

  if (!withBody || response.body === null) {
    await response.body?.cancel();
    if (size === null) throw fail.unavailable(`registry did not say how large blob ${digest} is`);
    return { size, mediaType, source: 'upstream', body: null };
  }
  if (size === null) {
    // Without a length R2 cannot take the stream; the caller still gets verified bytes.
    logEvent('warn', 'blob-not-cached', { digest, reason: 'unknown length' });
    const body = verifiedStream(response.body, digest, null);
    return { size: null, mediaType, source: 'upstream', body };
  }

  const writer = ctx.store.beginBlob(digest, size, mediaType ?? 'application/octet-stream');
  ctx.waitUntil(
    writer.done.then(
      () => logEvent('info', 'blob-stored', { digest, size }),
      (error: unknown) => logEvent('warn', 'blob-not-stored', { digest, reason: String(error) }),
    ),
  );
  ctx.log.set({ bytes: size });
  const body = withLength(verifiedStream(response.body, digest, size, writer), size, digest);
  return { size, mediaType, source: 'upstream', body };
}

/**
 * The same bytes with a length workerd knows, so the caller gets `Content-Length` (a plain
 * JS stream would go out chunked) and a stream that fails part-way is visibly short.
 */
function withLength(
  stream: ReadableStream<Uint8Array>,
  size: number,
  digest: Digest,
): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(size);
  stream.pipeTo(fixed.writable).catch((error: unknown) => {
    logEvent('warn', 'blob-stream-failed', { digest, reason: String(error) });
  });
  return fixed.readable;
}

/** The blob's length: upstream's Content-Length, which must agree with the manifest's size. */
function upstreamSize(response: Response, expected: number | undefined, digest: Digest) {
  const header = response.headers.get('Content-Length');
  const announced = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (announced !== null && expected !== undefined && announced !== expected) {
    throw fail.unavailable(
      `registry announced ${announced} bytes for blob ${digest}, whose manifest says ${expected}`,
    );
  }
  return announced ?? expected ?? null;
}
