/**
 * Every platform of an image at once (`?platform=all`), keyed the way a flake looks an image
 * up: by Nix system (`x86_64-linux`), or by OCI name (`windows/amd64`) for a platform Nix has
 * no system for. Each platform resolves exactly as `?platform=<that system>` would, so each
 * entry equals the single-platform answer.
 */
import { z } from 'zod';
import { openBlob } from './blobs/pull';
import { isAnonymous } from './blobs/store';
import { EdgeError, fail } from './errors';
import { type Reference, repositoryName } from './reference';
import { type Descriptor, requireImageConfig } from './registry/manifest';
import {
  availablePlatforms,
  choosePlatform,
  formatPlatform,
  nixSystem,
  type Platform,
} from './registry/platform';
import {
  type Context,
  type FetchedManifest,
  type ManifestSource,
  type ResolvedImage,
  resolveFrom,
} from './resolve';

/** One platform of an image and its key in the attribute set. */
export interface PlatformImage {
  /** The Nix system, or the OCI platform name when Nix has none. */
  key: string;
  image: ResolvedImage;
}

/**
 * Resolves every platform of `top`, in the order of their OCI names. An index gives one
 * entry per distinct key; two index entries that one Nix system runs (`linux/arm64` and
 * `linux/arm64/v8`) give one, chosen as `?platform=` would choose it. A single-platform
 * manifest does not name its platform, so its config is read for it: from upstream (through
 * the verified blob path) or, for a posted manifest, from R2 only.
 */
export async function resolveEveryPlatform(
  ctx: Context,
  reference: Reference,
  top: FetchedManifest,
  source: ManifestSource,
): Promise<PlatformImage[]> {
  if (top.manifest.kind === 'image') {
    const image = await resolveFrom(ctx, reference, top, ctx.config.defaultPlatform, source);
    const platform = await configPlatform(ctx, image, source);
    return [{ key: platformKey(platform), image }];
  }

  const wanted = new Map<string, Platform>();
  for (const name of availablePlatforms(top.manifest.manifests)) {
    const platform = parseFormatted(name);
    const key = platformKey(platform);
    if (!wanted.has(key)) wanted.set(key, platform);
  }
  if (wanted.size === 0) {
    throw fail.manifestUnknown(`${top.digest} lists no image for any platform`, { platforms: [] });
  }

  return await Promise.all(
    [...wanted].map(async ([key, platform]) => ({
      key,
      image: await resolveFrom(ctx, reference, top, platform, source),
    })),
  );
}

/**
 * A single-platform image checked against the platform a caller asked for by name: its
 * manifest does not say, so its config is read. Another platform's image is
 * `MANIFEST_UNKNOWN` naming the one it has, as for an index that lacks the platform.
 */
export async function withCheckedPlatform(
  ctx: Context,
  image: ResolvedImage,
  wanted: Platform,
  source: ManifestSource,
): Promise<ResolvedImage> {
  if (image.platform !== null) return image;

  const own = await configPlatform(ctx, image, source);
  const entry = { mediaType: image.manifestMediaType, digest: image.manifestDigest, platform: own };
  if (choosePlatform([entry], wanted) === null) {
    const platforms = [formatPlatform(own)];
    throw fail.manifestUnknown(
      `${formatPlatform(wanted)} is not a platform of this image; it has: ${platforms[0]}`,
      { platforms },
    );
  }
  return { ...image, platform: own };
}

/** The attribute name for a platform: its Nix system, else its OCI name. */
export function platformKey(platform: Platform): string {
  return nixSystem(platform) ?? formatPlatform(platform);
}

// `availablePlatforms` formats what the index says; reading it back gives that platform.
function parseFormatted(name: string): Platform {
  const [os = '', architecture = '', variant] = name.split('/');
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

// The config types of container images (C52): a chart or other artifact has no platform.
// Image configs are small JSON documents; this bounds what one may make the edge read.
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

const configSchema = z.object({
  os: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().min(1).optional(),
});

/** The platform an image's config names (`os`, `architecture`, `variant`). */
async function configPlatform(
  ctx: Context,
  image: ResolvedImage,
  source: ManifestSource,
): Promise<Platform> {
  const { config } = image;
  requireImageConfig(image.manifestDigest, config);
  if (config.size > MAX_CONFIG_BYTES) {
    throw fail.manifestInvalid(`config ${config.digest} is larger than ${MAX_CONFIG_BYTES} bytes`);
  }

  const body = await configBytes(ctx, image, source);
  const text = new TextDecoder().decode(await readAll(body, config.size));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail.manifestInvalid(`config ${config.digest} is not JSON`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'config';
    throw fail.manifestInvalid(`config ${config.digest}: ${where}: ${issue?.message ?? 'invalid'}`);
  }

  const { os, architecture, variant } = parsed.data;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

async function configBytes(
  ctx: Context,
  image: ResolvedImage,
  source: ManifestSource,
): Promise<ReadableStream<Uint8Array>> {
  const { config, reference } = image;
  if (source === 'upstream') {
    const blob = await openBlob(ctx, reference, config.digest, { withBody: true, range: null });
    if (blob.body === null) throw fail.unavailable(`config ${config.digest} came without a body`);
    return blob.body;
  }

  const object = await ctx.store.blob(config.digest, config.size);
  if (object !== null && isAnonymous(object)) return object.body;

  await object?.body.cancel();
  throw notHeld(config, `/nix/${repositoryName(reference)}@${image.manifestDigest}`);
}

function notHeld(config: Descriptor, pinned: string): EdgeError {
  return fail.blobUnknown(
    `platform=all names a single-platform image by the platform in its config ` +
      `${config.digest}, which this edge does not hold: GET ${pinned}?platform=all once, ` +
      'or POST without platform=all',
    { digest: config.digest },
  );
}

// Reads a stream whose length is known and bounded (the config's verified size).
async function readAll(stream: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let offset = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (offset + value.byteLength > size) {
      await reader.cancel();
      throw fail.manifestInvalid(`config blob is longer than its manifest says (${size} bytes)`);
    }
    bytes.set(value, offset);
    offset += value.byteLength;
  }
  if (offset !== size) {
    throw fail.manifestInvalid(`config blob is ${offset} bytes; its manifest says ${size}`);
  }
  return bytes;
}
