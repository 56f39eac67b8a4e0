/**
 * A blob, from wherever it is: R2 when cached and intact, else upstream through the verifier,
 * written behind into R2 as it streams. The KV record (when a manifest introduced the blob)
 * supplies the size that the bytes must have. Bytes first fetched with a caller's
 * credentials are served from R2 only to callers the registry accepts.
 */
import type { Digest } from '../digest';
import { fail } from '../errors';
import { logEvent } from '../log';
import type { Reference } from '../reference';
import { type Context, clientFor, ensureAccess } from '../resolve';
import { type ByteRange, parseRange, sliceStream } from './range';
import { isAnonymous } from './store';
import { VerificationError, verifiedStream } from './verify';

/** What the caller asked for: the whole blob or its metadata, and maybe a byte range. */
export interface BlobRequest {
  withBody: boolean;
  /** The caller's `Range` header, if any. */
  range: string | null;
}

/** A blob ready to answer with. */
export interface OpenedBlob {
  /** The whole blob's size; null only when neither upstream nor a manifest said. */
  size: number | null;
  mediaType: string | null;
  source: 'cache' | 'upstream';
  /** False for bytes fetched with a caller's credentials: no shared cache may keep them. */
  shareable: boolean;
  /** The part being answered, when the caller asked for a satisfiable range. */
  range: ByteRange | null;
  /** The bytes (of the range, if any); null for HEAD. */
  body: ReadableStream<Uint8Array> | null;
  /**
   * Settles once the blob is known to be in R2 (true) or known not to be (false): at once
   * for a cached blob, when the write behind lands for one streaming from upstream.
   */
  cached: Promise<boolean>;
}

/** Opens a blob of `reference`'s repository. */
export async function openBlob(
  ctx: Context,
  reference: Reference,
  digest: Digest,
  request: BlobRequest,
): Promise<OpenedBlob> {
  const record = await ctx.store.blobRecord(digest);
  const cached = await fromCache(ctx, reference, digest, request, record?.size);
  if (cached !== null) return { ...cached, mediaType: record?.mediaType ?? null };

  ctx.log.set({ cache: 'miss' });
  return await fromUpstream(ctx, reference, digest, request, {
    size: record?.size ?? null,
    mediaType: record?.mediaType ?? null,
  });
}

async function fromCache(
  ctx: Context,
  reference: Reference,
  digest: Digest,
  request: BlobRequest,
  expectedSize: number | undefined,
): Promise<Omit<OpenedBlob, 'mediaType'> | null> {
  const head = await ctx.store.blobHead(digest, expectedSize);
  if (head === null) return null;
  const shareable = isAnonymous(head);
  if (!shareable) await ensureAccess(ctx, reference, 'blobs', digest);

  const range = parseRange(request.range, head.size);
  const cached = Promise.resolve(true);
  const opened = { size: head.size, source: 'cache' as const, shareable, range, cached };
  ctx.log.set({ cache: 'hit', bytes: range ? range.end - range.start + 1 : head.size });
  if (!request.withBody) return { ...opened, body: null };

  const r2Range = range ? { offset: range.start, length: range.end - range.start + 1 } : undefined;
  const object = await ctx.store.blob(digest, head.size, r2Range);
  if (object === null) return null;
  // A range cannot be proven on its own (R2's stored checksum vouches for it); a whole blob
  // is hashed again on its way out, so bytes changed at rest can never be served as good.
  if (range !== null) return { ...opened, body: object.body };

  return { ...opened, body: cachedBody(ctx, digest, head.size, object) };
}

/**
 * A whole cached blob's bytes, hashed again on their way out: bytes changed at rest fail the
 * stream, and the object is dropped so the next request fetches the blob anew.
 */
export function cachedBody(
  ctx: Context,
  digest: Digest,
  size: number,
  object: R2ObjectBody,
  onCorrupt?: () => void,
): ReadableStream<Uint8Array> {
  const verified = verifiedStream(object.body, digest, size);
  return withLength(verified, size, digest, (error) => {
    if (!(error instanceof VerificationError)) return;
    logEvent('error', 'cache-corrupt', { digest, reason: error.message });
    ctx.waitUntil(ctx.store.deleteBlob(digest));
    onCorrupt?.();
  });
}

async function fromUpstream(
  ctx: Context,
  reference: Reference,
  digest: Digest,
  request: BlobRequest,
  known: { size: number | null; mediaType: string | null },
): Promise<OpenedBlob> {
  const client = clientFor(ctx, reference);
  const upstream = { kind: 'blobs' as const, reference: digest };
  const { response, credentialed } = request.withBody
    ? await client.send({ ...upstream, method: 'GET' })
    : await client.head(upstream);
  const size = upstreamSize(response, known.size, digest);
  const range = size === null ? null : parseRange(request.range, size);
  const opened = {
    size,
    mediaType: known.mediaType,
    source: 'upstream' as const,
    shareable: !credentialed,
    range,
    cached: Promise.resolve(false),
  };

  if (!request.withBody || response.body === null) {
    await response.body?.cancel();
    if (size === null) throw fail.unavailable(`registry did not say how large blob ${digest} is`);
    return { ...opened, body: null };
  }
  if (size === null) {
    // Without a length R2 cannot take the stream; the caller still gets verified bytes.
    logEvent('warn', 'blob-not-cached', { digest, reason: 'unknown length' });
    return { ...opened, body: verifiedStream(response.body, digest, null) };
  }

  const mediaType = known.mediaType ?? 'application/octet-stream';
  const writer = ctx.store.beginBlob(digest, size, mediaType, !credentialed);
  const cached = writer.done.then(
    () => {
      logEvent('info', 'blob-stored', { digest, size });
      return true;
    },
    (error: unknown) => {
      logEvent('warn', 'blob-not-stored', { digest, reason: String(error) });
      return false;
    },
  );
  ctx.waitUntil(cached);

  const verified = verifiedStream(response.body, digest, size, writer);
  const body = range === null ? verified : sliceStream(verified, range);
  const length = range === null ? size : range.end - range.start + 1;
  ctx.log.set({ bytes: length });
  return { ...opened, cached, body: withLength(body, length, digest) };
}

/**
 * The same bytes with a length workerd knows, so the caller gets `Content-Length` (a plain
 * JS stream would go out chunked) and a stream that fails part-way is visibly short.
 */
function withLength(
  stream: ReadableStream<Uint8Array>,
  length: number,
  digest: Digest,
  onFailure?: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(length);
  stream.pipeTo(fixed.writable).catch((error: unknown) => {
    logEvent('warn', 'blob-stream-failed', { digest, reason: String(error) });
    // pipeTo aborts the writable when the source fails; this covers a failure before that.
    fixed.writable.abort(error).catch(() => undefined);
    onFailure?.(error);
  });
  return fixed.readable;
}

/** The blob's length: upstream's Content-Length, which must agree with the manifest's size. */
function upstreamSize(response: Response, expected: number | null, digest: Digest) {
  const header = response.headers.get('Content-Length');
  const announced = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (announced !== null && expected !== null && announced !== expected) {
    throw fail.unavailable(
      `registry announced ${announced} bytes for blob ${digest}, whose manifest says ${expected}`,
    );
  }
  return announced ?? expected;
}
