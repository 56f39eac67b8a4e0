/**
 * The `fetchurl` expression for a resolved image: every URL points back at the edge's stable
 * blob URL, and every hash is the registry digest re-encoded, so Nix builds it without docker,
 * skopeo or registry credentials. Works with nixpkgs' `fetchurl` and `<nix/fetchurl.nix>`.
 */
import { type Digest, digestHex } from '../digest';
import { formatReference, type Reference } from '../reference';
import type { Descriptor } from '../registry/manifest';
import { formatPlatform, type Platform } from '../registry/platform';
import { nixHashes } from './hashes';
import { type NixAttrs, type NixExpr, nix, printNix } from './printer';

/**
 * What an expression is printed from: the fields of a `ResolvedImage` (resolve.ts) that Nix
 * text needs. Declared here so that rendering depends on data only, never on the runtime.
 */
export interface PinnedImage {
  reference: Reference;
  imageDigest: Digest;
  manifestDigest: Digest;
  platform: Platform | null;
  tagConfirmedAt: number | null;
  stale: boolean;
  config: Descriptor;
  layers: Descriptor[];
  /** The docker archive at `/image/...`, once its hash is known (see image/fingerprint.ts). */
  archive?: ArchivePin | null;
}

/** Where the image's docker archive is, and its Nix hash once it has been downloaded whole. */
export interface ArchivePin {
  url: string;
  nix32: string | null;
}

/** The stable URL of a blob at the edge whose origin is `origin`. */
export function blobUrl(
  origin: string,
  { registry, repository }: { registry: string; repository: string },
  digest: Digest,
): string {
  return `${origin}/v2/${registry}/${repository}/blobs/${digest}`;
}

/**
 * Where Nix fetches a blob: the edge's stable URL, or for a foreign (non-distributable) layer
 * the URLs its manifest names, since the registry does not hold those bytes.
 */
export function blobUrls(
  origin: string,
  repository: { registry: string; repository: string },
  descriptor: Descriptor,
): string[] {
  const foreign = (descriptor.urls ?? []).filter((url) => /^https?:\/\//i.test(url));
  return foreign.length > 0 ? foreign : [blobUrl(origin, repository, descriptor.digest)];
}

/** The Nix file that pins `image`, served by the edge at `origin`. */
export function fetchurlExpression(image: PinnedImage, origin: string): string {
  const platform = image.platform === null ? 'single platform' : formatPlatform(image.platform);
  const header = headerLines(image, image.manifestDigest, platform, `from ${origin}`);
  if (image.archive && image.archive.nix32 === null) {
    header.push(`no image attribute yet: GET ${image.archive.url} once, then fetch this again`);
  }

  return printNix(nix.function(['fetchurl'], fetchurlAttrs(image, origin)), { header });
}

/**
 * The Nix file that pins every platform of an image: `{ fetchurl }: { <key> = <the
 * single-platform attribute set>; ... }`, keyed by Nix system (or OCI name), so that
 * `(import ./image.nix { inherit fetchurl; }).${system}` picks the machine's own.
 */
export function everyPlatformExpression(
  platforms: readonly { key: string; image: PinnedImage }[],
  origin: string,
): string {
  const body = nix.attrs(platforms.map(({ key, image }) => [key, fetchurlAttrs(image, origin)]));
  const first = platforms[0]?.image;
  const keys = `every platform: ${platforms.map(({ key }) => key).join(', ')}`;
  const header = first && headerLines(first, first.imageDigest, keys, `from ${origin}`);

  return printNix(nix.function(['fetchurl'], body), header ? { header } : {});
}

/**
 * The `#` lines above an expression: `<reference> -> <digest> (<what>), <where>`, and a
 * warning when the tag was answered stale because the registry failed.
 */
export function headerLines(
  image: PinnedImage,
  digest: string,
  what: string,
  where: string,
): string[] {
  const lines = [`${formatReference(image.reference)} -> ${digest} (${what}), ${where}`];
  if (image.stale && image.tagConfirmedAt !== null) {
    const confirmed = new Date(image.tagConfirmedAt).toISOString();
    lines.push(`served stale: the registry failed; the tag was last confirmed ${confirmed}`);
  }
  return lines;
}

/** The attribute set that pins one platform of an image: names, digests, config, layers. */
export function fetchurlAttrs(image: PinnedImage, origin: string): NixAttrs {
  const { reference } = image;
  const fetch = (descriptor: Descriptor, name: string): NixExpr => {
    const urls = blobUrls(origin, reference, descriptor);
    const where: [string, NixExpr] =
      urls.length === 1 ? ['url', nix.string(urls[0]!)] : ['urls', nix.list(urls.map(nix.string))];
    return nix.apply(
      'fetchurl',
      nix.attrs([
        ['name', nix.string(name)],
        where,
        ['sha256', nix.string(nixHashes(descriptor.digest).nix32)],
      ]),
    );
  };

  const stem = storeNameStem(reference.repository);
  const entries: [string, NixExpr][] = [
    ['imageName', nix.string(`${reference.registry}/${reference.repository}`)],
    ['imageTag', nix.optionalString(reference.tag)],
    ['imageDigest', nix.string(image.imageDigest)],
    ['manifestDigest', nix.string(image.manifestDigest)],
    ['config', fetch(image.config, `${stem}-config-${short(image.config)}.json`)],
    [
      'layers',
      nix.list(
        image.layers.map((layer, index) =>
          fetch(layer, `${stem}-layer-${index}-${short(layer)}${layerExtension(layer.mediaType)}`),
        ),
      ),
    ],
  ];

  const { archive } = image;
  if (archive && archive.nix32 !== null) {
    const name = `${stem}-image-${digestHex(image.manifestDigest).slice(0, 12)}.tar`;
    const attrs = {
      name: nix.string(name),
      url: nix.string(archive.url),
      sha256: nix.string(archive.nix32),
    };
    entries.push(['image', nix.apply('fetchurl', nix.attrs(attrs))]);
  }
  return nix.attrs(entries);
}

/** The last repository component, which is already a valid store-name fragment. */
function storeNameStem(repository: string): string {
  // Store names may be 211 characters; the stem leaves room for the rest of the name.
  return repository.slice(repository.lastIndexOf('/') + 1).slice(0, 100);
}

function short(descriptor: Descriptor): string {
  return digestHex(descriptor.digest).slice(0, 12);
}

/** A file extension for a layer's store name, so a store path says what it holds. */
function layerExtension(mediaType: string): string {
  if (mediaType.endsWith('gzip')) return '.tar.gz';
  if (mediaType.endsWith('zstd')) return '.tar.zst';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('tar')) return '.tar';
  return '';
}
