import type { BuiltIndex, BuiltManifest } from './image-builder';
import { pushBlob, pushManifest, type PushTarget } from './push';

/**
 * Pushes an image's config and layers, then its manifest under `reference` (a tag, or its
 * own digest when omitted). Resolves with the manifest digest.
 */
export async function pushImage(
  target: PushTarget,
  repo: string,
  manifest: BuiltManifest,
  reference: string = manifest.digest,
): Promise<string> {
  for (const blob of [manifest.config, ...manifest.layers]) await pushBlob(target, repo, blob);

  return pushManifest(target, repo, reference, manifest.bytes, manifest.mediaType);
}

/**
 * Pushes every image an index lists (attestations included) by digest, then the index under
 * `reference`: distribution refuses an index whose manifests it does not hold yet.
 */
export async function pushIndex(
  target: PushTarget,
  repo: string,
  index: BuiltIndex,
  reference: string = index.digest,
): Promise<string> {
  for (const manifest of [...index.manifests, ...index.attestations]) {
    await pushImage(target, repo, manifest);
  }

  return pushManifest(target, repo, reference, index.bytes, index.mediaType);
}
