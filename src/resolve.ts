/**
 * From a reference to an image: tag to digest (KV, else upstream), digest to manifest bytes
 * (R2, else upstream, verified and stored), and for a list or index the chosen platform's
 * manifest. Digest references never need upstream once their manifest is stored.
 */
import type { BlobRecord, Store, StoredManifest, TagRecord } from './blobs/store';
import type { SubrequestBudget } from './budget';
import { readAtMost } from './bytes';
import { allowedRegistry, type Config } from './config';
import { type Digest, digestOfBytes, isDigest } from './digest';
import { EdgeError, fail } from './errors';
import { logEvent, type RequestLog } from './log';
import { nixHashes } from './nix/hashes';
import { storedPlatformManifest } from './posted';
import { type Reference, repositoryName } from './reference';
import type { Credentials } from './registry/auth';
import { RegistryClient } from './registry/client';
import {
  type Descriptor,
  type ImageManifest,
  type Manifest,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  normalizeMediaType,
  parseManifest,
} from './registry/manifest';
import {
  availablePlatforms,
  choosePlatform,
  formatPlatform,
  type Platform,
} from './registry/platform';

/** What one request needs to reach registries and the cache. */
export interface Context {
  config: Config;
  store: Store;
  log: RequestLog;
  credentials?: Credentials;
  /** What is left of the invocation's subrequests (see budget.ts). */
  budget: SubrequestBudget;
  /** Keeps background work (cache writes) alive after the response. */
  waitUntil(promise: Promise<unknown>): void;
}

/** A manifest document with its exact bytes. */
export interface FetchedManifest {
  digest: Digest;
  bytes: Uint8Array;
  mediaType: string;
  manifest: Manifest;
  /** False when upstream answered only with the caller's credentials. */
  anonymous: boolean;
  /** For a tag: when upstream last confirmed it points here (ms since the epoch). */
  tagConfirmedAt: number | null;
  /** True when upstream failed and a known tag was answered from the cache anyway. */
  stale: boolean;
}

/** An image resolved to one platform's manifest. */
export interface ResolvedImage {
  reference: Reference;
  /** What the reference resolved to: an index digest for a multi-platform tag. */
  imageDigest: Digest;
  imageMediaType: string;
  /** The chosen platform's manifest (equal to `imageDigest` for a single-platform image). */
  manifestDigest: Digest;
  manifestMediaType: string;
  /** The chosen platform, or null for a single-platform image (its manifest does not say). */
  platform: Platform | null;
  /** Every platform of a multi-platform image. */
  platforms: string[];
  /** For a tag: when upstream last confirmed it (ms since the epoch). */
  tagConfirmedAt: number | null;
  /** True when upstream failed and the tag was answered from the cache anyway. */
  stale: boolean;
  config: Descriptor;
  layers: Descriptor[];
}

/** Where content lives: a registry and a repository in it. */
export type Repository = Pick<Reference, 'registry' | 'repository'>;

/** A registry client for the reference's repository, after checking the allow-list. */
export function clientFor(ctx: Context, reference: Repository): RegistryClient {
  const registry = allowedRegistry(ctx.config, reference.registry);
  return new RegistryClient(registry, reference.repository, ctx, ctx.credentials);
}

/**
 * The manifest a reference names, exactly as upstream served it. A digest wins over a tag
 * when both are given; the tag is then only a label.
 */
export async function fetchManifest(ctx: Context, reference: Reference): Promise<FetchedManifest> {
  const client = clientFor(ctx, reference);
  if (reference.digest !== null)
    return await manifestByDigest(ctx, reference, client, reference.digest);

  const tag = reference.tag ?? 'latest';
  const name = repositoryName(reference);
  const known = await ctx.store.tag(name, tag);
  const stored = known === null ? null : await ctx.store.manifest(known.digest);
  if (known !== null && stored !== null) {
    const cached = await fromKnownTag(ctx, reference, client, known, stored);
    if (cached !== null) return cached;
  }

  ctx.log.set({ cache: 'miss' });
  const confirmedAt = Date.now();
  const fetched = await manifestFromUpstream(client, tag, null);
  await ctx.store.putManifest(fetched.digest, fetched);
  await ctx.store.putTag(name, tag, {
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    confirmedAt,
    anonymous: fetched.anonymous,
  });
  return { ...fetched, tagConfirmedAt: confirmedAt };
}

/**
 * The cached manifest of a known tag: while the tag is fresh; after a HEAD shows it has not
 * moved; or, when upstream fails, stale within STALE_IF_ERROR_SECONDS (public content only,
 * since nobody could check a caller's access). Null when the tag must be fetched again.
 */
async function fromKnownTag(
  ctx: Context,
  reference: Reference,
  client: RegistryClient,
  known: TagRecord,
  stored: StoredManifest,
): Promise<FetchedManifest | null> {
  const tag = reference.tag ?? 'latest';
  const age = Date.now() - known.confirmedAt;
  const answer = (confirmedAt: number, stale = false) => {
    ctx.log.set({ cache: stale ? 'stale' : 'hit' });
    return { ...withParsed(known.digest, stored), tagConfirmedAt: confirmedAt, stale };
  };

  if (age < ctx.config.tagTtlSeconds * 1000) {
    if (!known.anonymous) await ensureAccess(ctx, reference, 'manifests', tag);
    return answer(known.confirmedAt);
  }

  try {
    // Revalidating upstream also checks a credentialed caller's access.
    if (!(await stillPointsAt(client, tag, known.digest))) return null;
  } catch (error) {
    const window = ctx.config.staleIfErrorSeconds * 1000;
    if (known.anonymous && age < window && isUpstreamFailure(error)) {
      logEvent('warn', 'tag-served-stale', { tag: `${repositoryName(reference)}:${tag}` });
      return answer(known.confirmedAt, true);
    }
    throw error;
  }

  const confirmedAt = Date.now();
  await ctx.store.putTag(repositoryName(reference), tag, { ...known, confirmedAt });
  return answer(confirmedAt);
}

/** Failures of the registry itself (down, overloaded, rate-limiting), not answers about us. */
function isUpstreamFailure(error: unknown): boolean {
  return (
    error instanceof EdgeError && (error.code === 'UNAVAILABLE' || error.code === 'TOOMANYREQUESTS')
  );
}

/**
 * Before bytes first fetched with credentials are served from the cache: the registry must
 * let this caller read them in this repository, which a HEAD as the caller proves. The same
 * bytes may be public elsewhere (a private image on a public base), so an anonymous caller
 * is asked about too, and refused only when the registry refuses.
 */
export async function ensureAccess(
  ctx: Context,
  reference: Repository,
  kind: 'manifests' | 'blobs',
  target: string,
): Promise<void> {
  const answer = await clientFor(ctx, reference).head({
    kind,
    reference: target,
    accept: MANIFEST_ACCEPT,
    redirects: 'report',
  });
  await answer.response.body?.cancel();
}

/**
 * Revalidates a stale tag with HEAD, which registries such as Docker Hub do not count as a
 * pull. Any doubt (HEAD refused, no digest header, another digest) answers false, and the
 * caller GETs the tag instead.
 */
async function stillPointsAt(client: RegistryClient, tag: string, digest: Digest) {
  try {
    const { response } = await client.send({
      method: 'HEAD',
      kind: 'manifests',
      reference: tag,
      accept: MANIFEST_ACCEPT,
    });
    await response.body?.cancel();
    return response.headers.get('Docker-Content-Digest') === digest;
  } catch (error) {
    if (error instanceof EdgeError && error.status < 500 && error.status !== 429) return false;
    throw error;
  }
}

/** Resolves a reference to one platform's image manifest and records its blobs in KV. */
export async function resolveImage(
  ctx: Context,
  reference: Reference,
  platform: Platform,
): Promise<ResolvedImage> {
  const top = await fetchManifest(ctx, reference);
  return await resolveFrom(ctx, reference, top, platform, 'upstream');
}

/**
 * Where `resolveFrom` finds the platform manifest an index names: `upstream` as
 * `resolveImage` does (R2, else the registry, recording the blobs in KV), or `stored`: only
 * a public manifest already in R2, with no request and no write, for a manifest a caller
 * posted (what it says is not known to be true, so nothing of it is recorded).
 */
export type ManifestSource = 'upstream' | 'stored';

/**
 * Resolves `platform` of a top manifest already in hand (fetched, or posted by a caller):
 * an image manifest is itself the answer; an index answers the entry `choosePlatform`
 * picks, or `MANIFEST_UNKNOWN` listing the platforms it has.
 */
export async function resolveFrom(
  ctx: Context,
  reference: Reference,
  top: FetchedManifest,
  platform: Platform,
  source: ManifestSource,
): Promise<ResolvedImage> {
  let image: FetchedManifest & { manifest: ImageManifest };
  let chosen: Platform | null = null;
  let platforms: string[] = [];

  if (top.manifest.kind === 'index') {
    platforms = availablePlatforms(top.manifest.manifests);
    const entry = choosePlatform(top.manifest.manifests, platform);
    if (entry === null) {
      throw fail.manifestUnknown(
        `${formatPlatform(platform)} is not a platform of this image; it has: ` +
          (platforms.join(', ') || 'none'),
        { platforms },
      );
    }
    image =
      source === 'upstream'
        ? await platformManifest(ctx, reference, entry)
        : await storedPlatformManifest(ctx.store, reference, entry);
    chosen = entry.platform ?? null;
  } else {
    image = top as FetchedManifest & { manifest: ImageManifest };
  }

  if (source === 'upstream') await recordBlobs(ctx, reference, image.manifest, image.anonymous);
  return {
    reference,
    imageDigest: top.digest,
    imageMediaType: top.mediaType,
    manifestDigest: image.digest,
    manifestMediaType: image.mediaType,
    platform: chosen,
    platforms,
    tagConfirmedAt: top.tagConfirmedAt,
    stale: top.stale,
    config: image.manifest.config,
    layers: image.manifest.layers,
  };
}

async function platformManifest(
  ctx: Context,
  reference: Reference,
  entry: Descriptor,
): Promise<FetchedManifest & { manifest: ImageManifest }> {
  const fetched = await manifestByDigest(ctx, reference, clientFor(ctx, reference), entry.digest);
  if (fetched.bytes.byteLength !== entry.size) {
    throw fail.manifestInvalid(
      `manifest ${entry.digest} is ${fetched.bytes.byteLength} bytes; its index says ${entry.size}`,
    );
  }
  if (fetched.manifest.kind !== 'image') {
    throw fail.manifestInvalid(`index entry ${entry.digest} is not an image manifest`);
  }
  return fetched as FetchedManifest & { manifest: ImageManifest };
}

async function manifestByDigest(
  ctx: Context,
  reference: Reference,
  client: RegistryClient,
  digest: Digest,
): Promise<FetchedManifest> {
  const stored = await ctx.store.manifest(digest);
  if (stored !== null) {
    if (!stored.anonymous) await ensureAccess(ctx, reference, 'manifests', digest);
    ctx.log.set({ cache: 'hit' });
    return withParsed(digest, stored);
  }

  ctx.log.set({ cache: 'miss' });
  const fetched = await manifestFromUpstream(client, digest, digest);
  await ctx.store.putManifest(digest, fetched);
  return fetched;
}

/** GETs a manifest and proves its bytes: against the digest asked for, or the one announced. */
async function manifestFromUpstream(
  client: RegistryClient,
  reference: string,
  expected: Digest | null,
): Promise<FetchedManifest> {
  const { response, credentialed } = await client.send({
    method: 'GET',
    kind: 'manifests',
    reference,
    accept: MANIFEST_ACCEPT,
  });
  const bytes = await readAtMost(response, MAX_MANIFEST_BYTES, () =>
    fail.manifestInvalid(`manifest is larger than ${MAX_MANIFEST_BYTES} bytes`),
  );
  const digest = digestOfBytes(bytes);

  const announced = response.headers.get('Docker-Content-Digest');
  const claimed = expected ?? (announced !== null && isDigest(announced) ? announced : null);
  if (claimed !== null && claimed !== digest) {
    throw fail.manifestInvalid(
      `registry ${client.registry.name} sent manifest bytes hashing to ${digest} for ${claimed}`,
    );
  }

  const mediaType = normalizeMediaType(response.headers.get('Content-Type'));
  return withParsed(digest, { bytes, mediaType, anonymous: !credentialed });
}

function withParsed(digest: Digest, stored: StoredManifest): FetchedManifest {
  const manifest = parseManifest(stored.bytes, stored.mediaType);
  return {
    ...stored,
    digest,
    mediaType: manifest.mediaType,
    manifest,
    tagConfirmedAt: null,
    stale: false,
  };
}

// Subrequests a resolution leaves for the rest of its request after the blob records: what
// an expression, a hash lookup or the first steps of an archive still need.
const SUBREQUESTS_AFTER_RECORDS = 10;

/**
 * Writes KV records for the config and layers unless the config's record already exists. An
 * image with more blobs than the request can afford to record is not recorded: the records
 * serve lookups by digest (`/hash/sha256:`, `/sha256/`), and the request itself still works.
 */
async function recordBlobs(
  ctx: Context,
  reference: Reference,
  manifest: ImageManifest,
  anonymous: boolean,
) {
  if ((await ctx.store.blobRecord(manifest.config.digest)) !== null) return;

  const records = [manifest.config, ...manifest.layers].map((descriptor): BlobRecord => ({
    digest: descriptor.digest,
    size: descriptor.size,
    mediaType: descriptor.mediaType,
    ...nixHashes(descriptor.digest),
    registry: reference.registry,
    repository: reference.repository,
    anonymous,
  }));
  if (ctx.budget.remaining - SUBREQUESTS_AFTER_RECORDS < records.length) {
    logEvent('warn', 'blob-records-skipped', { blobs: records.length, reason: 'subrequests' });
    return;
  }

  // The layers' records first: a present config record means the whole set is written.
  await Promise.all(records.slice(1).map((record) => ctx.store.putBlobRecord(record)));
  await ctx.store.putBlobRecord(records[0]!);
}
