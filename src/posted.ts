/**
 * docker2nix without the network: a manifest a caller posts (`POST /nix/<reference>`) is
 * read like one from upstream, and the platform manifest an index names is looked for in R2
 * only. Nothing here sends a request or writes to the store: a posted body is not known to
 * be true, so none of it is kept.
 */
import type { Store } from './blobs/store';
import { digestOfBytes } from './digest';
import { fail } from './errors';
import { type Reference, repositoryName } from './reference';
import { type Descriptor, type ImageManifest, parseManifest } from './registry/manifest';
import { formatPlatform } from './registry/platform';
import type { FetchedManifest } from './resolve';

/**
 * A manifest a caller sent, parsed as one from upstream would be, except that a bad body is
 * the caller's fault (400 `MANIFEST_INVALID` saying why). When the reference names a digest,
 * the body must hash to it (400 `DIGEST_INVALID`).
 */
export function postedManifest(
  reference: Reference,
  bytes: Uint8Array,
  contentType: string | null,
): FetchedManifest {
  const digest = digestOfBytes(bytes);
  if (reference.digest !== null && reference.digest !== digest) {
    throw fail.digestInvalid(
      `the body hashes to ${digest}, but the reference names ${reference.digest}`,
    );
  }

  const manifest = parseManifest(bytes, contentType, 400);
  return {
    digest,
    bytes,
    mediaType: manifest.mediaType,
    manifest,
    anonymous: true,
    tagConfirmedAt: null,
    stale: false,
  };
}

/**
 * The platform manifest an index entry names, from R2 only: never upstream, and never one
 * first fetched with credentials (only upstream could check the caller's access to it).
 * Absent: 404 `MANIFEST_UNKNOWN` telling the caller to post that manifest itself.
 */
export async function storedPlatformManifest(
  store: Store,
  reference: Reference,
  entry: Descriptor,
): Promise<FetchedManifest & { manifest: ImageManifest }> {
  const stored = await store.manifest(entry.digest);
  const pinned = `/nix/${repositoryName(reference)}@${entry.digest}`;
  if (stored === null || !stored.anonymous) {
    const platform = entry.platform === undefined ? 'a platform' : formatPlatform(entry.platform);
    throw fail.manifestUnknown(
      `the index names ${entry.digest} for ${platform}, which this edge does not hold. ` +
        `POST that platform's manifest to ${pinned} instead (its expression is the one ` +
        `this request would give), or GET ${pinned} once so the edge keeps it, then POST ` +
        'the index again',
      { digest: entry.digest },
    );
  }

  const manifest = parseManifest(stored.bytes, stored.mediaType);
  if (stored.bytes.byteLength !== entry.size || manifest.kind !== 'image') {
    throw fail.manifestInvalid(`index entry ${entry.digest} is not the image manifest it names`);
  }
  return {
    ...stored,
    digest: entry.digest,
    mediaType: manifest.mediaType,
    manifest,
    tagConfirmedAt: null,
    stale: false,
  };
}
