/**
 * Layers as docker archives hold them: uncompressed tars, each proven against the `diff_id`
 * its image config lists. A tar header states the size before the data, so each layer is
 * decompressed once to learn its size (and check its diff_id), and that fact is kept in KV.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { cachedBody, openBlob } from '../blobs/pull';
import { isAnonymous } from '../blobs/store';
import { VerificationError } from '../blobs/verify';
import { type Digest, digestHex, isDigest } from '../digest';
import { EdgeError, fail } from '../errors';
import type { Reference } from '../reference';
import type { Descriptor } from '../registry/manifest';
import { type Context, ensureAccess } from '../resolve';
import { zstdDecompression } from './zstd';

/** A layer's uncompressed form: the digest and size of its tar. */
export interface DiffFacts {
  diffId: Digest;
  size: number;
}

type Compression = 'gzip' | 'zstd' | 'none';

export const diffFactsSchema = z.object({
  diffId: z
    .string()
    .refine(isDigest)
    .transform((value) => value as Digest),
  size: z.number().int().nonnegative(),
});

/** How a layer media type is compressed, or an `UNSUPPORTED` error naming the layer. */
export function compressionOf(layer: Descriptor): Compression {
  const type = layer.mediaType;
  if (type.endsWith('+gzip') || type.endsWith('.tar.gzip')) return 'gzip';
  if (type.endsWith('+zstd') || type.endsWith('.tar.zstd')) return 'zstd';
  if (type.endsWith('.tar') || type.endsWith('layer.v1.tar')) return 'none';

  throw new EdgeError(
    'UNSUPPORTED',
    415,
    `layer ${layer.digest} has media type ${type}, which is not a layer a docker archive can hold`,
  );
}

/**
 * A layer of an archive plan, whose layers are all cached: one R2 read, the bytes hashed
 * again on their way out (see `cachedBody`), and for bytes fetched with credentials the
 * caller's access checked with the registry. A layer gone since the plan was made (or found
 * changed at rest) is reported through `onGone`, so plans stop counting on it; one gone is
 * opened the long way, from upstream.
 */
export async function openPlannedLayerTar(
  ctx: Context,
  reference: Reference,
  layer: Descriptor,
  onGone: () => void,
): Promise<ReadableStream<Uint8Array>> {
  const compression = compressionOf(layer);
  const object = await ctx.store.blob(layer.digest, layer.size);
  if (object === null) {
    onGone();
    return (await openLayer(ctx, reference, layer)).tar;
  }
  if (!isAnonymous(object)) await ensureAccess(ctx, reference, 'blobs', layer.digest);

  const body = cachedBody(ctx, layer.digest, layer.size, object, onGone);
  return decompressed(body, compression);
}

/** Forgets a layer's facts once its cached bytes are gone: they vouched for them. */
export async function forgetDiffFacts(ctx: Context, layer: Descriptor): Promise<void> {
  await ctx.store.deleteRecord(diffFactsKey(layer));
}

/** The layer's tar, and whether its compressed blob is (or is being) cached in R2. */
async function openLayer(ctx: Context, reference: Reference, layer: Descriptor) {
  const compression = compressionOf(layer);
  const blob = await openBlob(ctx, reference, layer.digest, { withBody: true, range: null });
  return { tar: decompressed(blob.body!, compression), cached: blob.cached };
}

function decompressed(body: ReadableStream<Uint8Array>, compression: Compression) {
  if (compression === 'none') return body;
  const zstd = compression === 'zstd';
  return body.pipeThrough(zstd ? zstdDecompression() : new DecompressionStream('gzip'));
}

const diffFactsKey = (layer: Descriptor) => `diff/${layer.digest}`;

/**
 * A layer's uncompressed facts, if an earlier request proved them for this `diffId`. They are
 * kept only once the layer is in R2, so a layer known here can be streamed from R2.
 */
export async function knownDiffFacts(
  ctx: Context,
  layer: Descriptor,
  diffId: Digest,
): Promise<DiffFacts | null> {
  const known = diffFactsSchema.safeParse(await ctx.store.record(diffFactsKey(layer)));
  return known.success && known.data.diffId === diffId ? known.data : null;
}

/**
 * Learns a layer's uncompressed size by decompressing it once (from the cache or upstream,
 * which also caches it) and proves it hashes to `diffId`. The facts are kept in KV once the
 * layer is cached; if its write failed, the next request learns it again.
 */
export async function learnDiffFacts(
  ctx: Context,
  reference: Reference,
  layer: Descriptor,
  diffId: Digest,
): Promise<{ facts: DiffFacts; cached: boolean }> {
  const { tar, cached } = await openLayer(ctx, reference, layer);
  const { digest, size } = await hashAndCount(tar).catch((error: unknown) => {
    if (error instanceof EdgeError) throw error;
    if (error instanceof VerificationError) {
      throw fail.unavailable(`layer ${layer.digest} failed verification: ${error.message}`);
    }
    throw fail.manifestInvalid(
      `layer ${layer.digest} (${layer.mediaType}) cannot be decompressed: ${String(error)}`,
    );
  });
  if (digest !== diffId) {
    throw fail.manifestInvalid(
      `layer ${layer.digest} decompresses to ${digest}, but the image config says ${diffId}`,
    );
  }

  const facts = { diffId, size };
  const stored = await cached;
  if (stored) await ctx.store.putRecord(diffFactsKey(layer), facts);
  return { facts, cached: stored };
}

async function hashAndCount(stream: ReadableStream<Uint8Array>) {
  const hasher = new crypto.DigestStream('SHA-256');
  let size = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      size += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });

  await stream.pipeThrough(counter).pipeTo(hasher);
  const hex = bytesToHex(new Uint8Array(await hasher.digest));
  return { digest: `sha256:${hex}` as Digest, size };
}

/** The `<hex>.tar` name a docker archive gives a layer. */
export function layerFileName(diffId: Digest): string {
  return `${digestHex(diffId)}.tar`;
}
