/**
 * `GET /nix/<reference>`: the Nix expression that pins an image, resolved upstream.
 * `POST /nix/<reference>`: docker2nix over HTTP, the same expression for a manifest the
 * caller sends, made without any upstream request (see posted.ts for what an index needs).
 *
 * Query: `format=fetchurl` (default) or `fetchdocker`; `platform=<OCI or Nix system>` or
 * `all` (fetchurl only: one attribute per platform); `altName=` (fetchdocker's `name`).
 */
import { Hono } from 'hono';
import { allowedRegistry, type Config } from '../config';
import { type PlatformImage, resolveEveryPlatform, withCheckedPlatform } from '../every-platform';
import { fail } from '../errors';
import { imageUrl } from '../image/archive';
import { knownFingerprint } from '../image/fingerprint';
import { everyPlatformExpression, fetchurlExpression, type PinnedImage } from '../nix/expression';
import { fetchdockerExpression, fetchdockerNames } from '../nix/fetchdocker';
import { postedManifest } from '../posted';
import { formatReference, type Reference } from '../reference';
import { normalizeMediaType, requireImageConfig } from '../registry/manifest';
import type { Platform } from '../registry/platform';
import {
  type Context,
  fetchManifest,
  type ManifestSource,
  type ResolvedImage,
  resolveFrom,
  resolveImage,
} from '../resolve';
import type { AppEnv } from './context';
import {
  choiceParam,
  manifestBody,
  platformNamed,
  platformsParam,
  publicOrigin,
  referenceAfter,
  storeNameParam,
} from './params';

/** Routes for Nix expressions. */
export const nixRoutes = new Hono<AppEnv>();

nixRoutes.get('/nix/*', async (c) => {
  const ctx = c.get('ctx');
  const url = new URL(c.req.url);
  const request = nixRequest(url, ctx.config);
  const { reference, platform } = request;
  ctx.log.set({ reference: formatReference(reference) });

  const resolved =
    platform === 'all'
      ? await resolveEveryPlatform(ctx, reference, await fetchManifest(ctx, reference), 'upstream')
      : await checked(ctx, url, await resolveImage(ctx, reference, platform), platform, 'upstream');
  return await render(ctx, url, request, resolved);
});

nixRoutes.post('/nix/*', async (c) => {
  const ctx = c.get('ctx');
  const url = new URL(c.req.url);
  const request = nixRequest(url, ctx.config);
  const { reference, platform } = request;
  ctx.log.set({ reference: formatReference(reference) });

  // The expression's URLs lead to this edge, which serves allowed registries only.
  allowedRegistry(ctx.config, reference.registry);
  const bytes = await manifestBody(c.req.raw);
  const top = postedManifest(reference, bytes, manifestType(c.req.header('Content-Type')));
  const resolved =
    platform === 'all'
      ? await resolveEveryPlatform(ctx, reference, top, 'stored')
      : await checked(
          ctx,
          url,
          await resolveFrom(ctx, reference, top, platform, 'stored'),
          platform,
          'stored',
        );
  return await render(ctx, url, request, resolved);
});

/** The image, refused when it is not one or not for the platform the caller named. */
async function checked(
  ctx: Context,
  url: URL,
  image: ResolvedImage,
  platform: Platform,
  source: ManifestSource,
): Promise<ResolvedImage> {
  requireImageConfig(image.manifestDigest, image.config);
  return platformNamed(url) ? await withCheckedPlatform(ctx, image, platform, source) : image;
}

/** What a `/nix/` request asks for, validated before anything is fetched. */
interface NixRequest {
  reference: Reference;
  format: 'fetchurl' | 'fetchdocker';
  platform: Platform | 'all';
  altName: string | null;
}

function nixRequest(url: URL, config: Config): NixRequest {
  const reference = referenceAfter(url, '/nix/', config);
  const format = choiceParam(url, 'format', ['fetchurl', 'fetchdocker'] as const);
  const platform = platformsParam(url, config);
  const altName = storeNameParam(url, 'altName');

  if (format === 'fetchurl' && altName !== null) {
    throw fail.unsupported('altName sets the name of format=fetchdocker; fetchurl has none');
  }
  if (format === 'fetchdocker') {
    fetchdockerNames(reference);
    if (platform === 'all') {
      throw fail.unsupported(
        'platform=all needs format=fetchurl: fetchdocker fetches the config through the tag, ' +
          'which cannot tell platforms apart',
      );
    }
  }
  return { reference, format, platform, altName };
}

async function render(
  ctx: Context,
  url: URL,
  request: NixRequest,
  resolved: ResolvedImage | PlatformImage[],
): Promise<Response> {
  const origin = publicOrigin(url, ctx.config);
  let text: string;
  if (Array.isArray(resolved)) {
    ctx.log.set({ digest: resolved[0]?.image.imageDigest });
    const pinned = await Promise.all(
      resolved.map(async (entry) => ({
        ...entry,
        image: await withArchive(ctx, entry.image, origin),
      })),
    );
    text = everyPlatformExpression(pinned, origin);
  } else if (request.format === 'fetchdocker') {
    ctx.log.set({ digest: resolved.manifestDigest });
    // Docker Hub's comes out as hocker's default, https://registry-1.docker.io/v2/, the one
    // registry for which hocker fetches an anonymous token by itself.
    const registry = allowedRegistry(ctx.config, request.reference.registry);
    const registryUrl = `${registry.origin}/v2/`;
    text = fetchdockerExpression(resolved, { registryUrl, altName: request.altName });
  } else {
    ctx.log.set({ digest: resolved.manifestDigest });
    text = fetchurlExpression(await withArchive(ctx, resolved, origin), origin);
  }

  ctx.log.set({ outcome: 'rendered' });
  return new Response(text, { headers: { 'Content-Type': 'text/x-nix; charset=utf-8' } });
}

/** The image with its docker archive's URL, and the archive's hash once KV knows it. */
async function withArchive<T extends PinnedImage>(ctx: Context, image: T, origin: string) {
  const known = await knownFingerprint(ctx.store, image.manifestDigest, image.reference.tag);
  return { ...image, archive: { url: imageUrl(origin, image), nix32: known?.nix32 ?? null } };
}

// curl posts as a form and many clients say application/json or text/plain: only a vendor
// manifest type is taken at its word; for anything else the body's own mediaType decides.
function manifestType(contentType: string | undefined): string | null {
  const type = normalizeMediaType(contentType);
  return type.startsWith('application/vnd.') ? type : null;
}
