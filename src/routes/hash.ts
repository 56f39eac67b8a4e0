/**
 * The hash-lookup API for scripts: `GET /hash/<reference>` (JSON for a whole image) and
 * `GET /hash/sha256:<hex>` (one blob; `?format=nix32|sri` for one line of text).
 */
import { Hono } from 'hono';
import { parseDigest } from '../digest';
import { fail } from '../errors';
import { withCheckedPlatform } from '../every-platform';
import { imageUrl } from '../image/archive';
import { type Fingerprint, knownFingerprint } from '../image/fingerprint';
import { blobUrl, blobUrls } from '../nix/expression';
import { nixHashes } from '../nix/hashes';
import { formatReference } from '../reference';
import type { Descriptor } from '../registry/manifest';
import { formatPlatform, nixSystem } from '../registry/platform';
import { ensureAccess, type ResolvedImage, resolveImage } from '../resolve';
import type { AppEnv } from './context';
import {
  choiceParam,
  pathAfter,
  platformNamed,
  platformParam,
  publicOrigin,
  referenceAfter,
} from './params';

/** Routes for hash lookups. */
export const hashRoutes = new Hono<AppEnv>();

hashRoutes.get('/hash/*', async (c) => {
  const url = new URL(c.req.url);
  const path = pathAfter(url, '/hash/');
  return path.startsWith('sha256:')
    ? await blobHashes(c.get('ctx'), url, path)
    : await imageHashes(c.get('ctx'), url);
});

type Ctx = AppEnv['Variables']['ctx'];

async function imageHashes(ctx: Ctx, url: URL): Promise<Response> {
  choiceParam(url, 'format', ['json'] as const);
  const reference = referenceAfter(url, '/hash/', ctx.config);
  const platform = platformParam(url, ctx.config);
  ctx.log.set({ reference: formatReference(reference) });

  const resolved = await resolveImage(ctx, reference, platform);
  const image = platformNamed(url)
    ? await withCheckedPlatform(ctx, resolved, platform, 'upstream')
    : resolved;
  const archive = await knownFingerprint(ctx.store, image.manifestDigest, reference.tag);
  ctx.log.set({ digest: image.manifestDigest, outcome: 'rendered' });
  return Response.json(imageDocument(image, archive, publicOrigin(url, ctx.config)));
}

/**
 * The JSON document for an image: both digests, the platform, every blob's hashes, and the
 * docker archive's once it has been downloaded whole (until then, how to make it known).
 */
function imageDocument(image: ResolvedImage, archive: Fingerprint | null, origin: string) {
  const blob = (descriptor: Descriptor) => {
    const hashes = nixHashes(descriptor.digest);
    return {
      digest: descriptor.digest,
      size: descriptor.size,
      mediaType: descriptor.mediaType,
      sha256: hashes.nix32,
      hash: hashes.sri,
      url: blobUrls(origin, image.reference, descriptor)[0],
      ...(descriptor.urls === undefined
        ? {}
        : { urls: blobUrls(origin, image.reference, descriptor) }),
    };
  };
  const { reference } = image;

  return {
    reference: formatReference(reference),
    registry: reference.registry,
    repository: reference.repository,
    tag: reference.tag,
    pinned: reference.digest === null ? 'tag' : 'digest',
    imageDigest: image.imageDigest,
    imageMediaType: image.imageMediaType,
    manifestDigest: image.manifestDigest,
    manifestMediaType: image.manifestMediaType,
    platform: image.platform === null ? null : formatPlatform(image.platform),
    nixSystem: image.platform === null ? null : nixSystem(image.platform),
    platforms: image.platforms,
    tagConfirmedAt:
      image.tagConfirmedAt === null ? null : new Date(image.tagConfirmedAt).toISOString(),
    stale: image.stale,
    config: blob(image.config),
    layers: image.layers.map(blob),
    image: archiveDocument(archive, imageUrl(origin, image)),
  };
}

function archiveDocument(archive: Fingerprint | null, url: string) {
  if (archive === null) {
    return { url, known: false, note: `not downloaded yet: GET ${url} once to compute its hash` };
  }
  const { digest, size, nix32, sri } = archive;
  return { url, known: true, digest, size, sha256: nix32, hash: sri };
}

async function blobHashes(ctx: Ctx, url: URL, path: string): Promise<Response> {
  const digest = parseDigest(path);
  const format = choiceParam(url, 'format', ['json', 'nix32', 'sri'] as const);
  ctx.log.set({ digest });

  const record = await ctx.store.blobRecord(digest);
  if (record === null) {
    throw fail.blobUnknown(`blob ${digest} has not appeared in any manifest this edge resolved`);
  }
  // Even the facts of a private blob (its repository, its size) are the registry's to share.
  if (!record.anonymous) await ensureAccess(ctx, record, 'blobs', digest);
  ctx.log.set({ outcome: 'rendered' });

  if (format === 'nix32') return textLine(record.nix32);
  if (format === 'sri') return textLine(record.sri);

  const cached = (await ctx.store.blobHead(digest, record.size)) !== null;
  return Response.json({
    digest,
    size: record.size,
    mediaType: record.mediaType,
    sha256: record.nix32,
    hash: record.sri,
    cached,
    url: blobUrl(publicOrigin(url, ctx.config), record, digest),
  });
}

function textLine(value: string): Response {
  return new Response(`${value}\n`, { headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
}
