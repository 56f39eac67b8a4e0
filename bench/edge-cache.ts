/**
 * What the benchmark asks the edge besides blobs: resolving the image first (so the edge
 * knows the blob's size, as it does for any blob a Nix expression names) and whether the
 * blob's bytes are in R2 yet.
 */
import type { BenchImage } from './fixture';

// The cold pull's R2 write finishes in `waitUntil`, possibly after the client's last byte.
const CACHED_CHECKS = 200;
const CACHED_CHECK_PAUSE_MS = 50;

// These answers are small and immediate; one that hangs must fail the run, not stall it.
const LOOKUP_TIMEOUT_MS = 30_000;

/** GETs `/hash/<registry>/<repository>:<tag>` on the edge; throws unless it answers 200. */
export async function resolveOnEdge(edgeUrl: string, host: string, image: BenchImage) {
  const url = `${edgeUrl}/hash/${host}/${image.repository}:${image.tag}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text}`);
}

/** `/hash/<digest>`'s `cached`: whether the edge holds the blob's verified bytes in R2. */
export async function isCached(edgeUrl: string, digest: string): Promise<boolean> {
  const url = `${edgeUrl}/hash/${digest}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
  const record = (await response.json()) as { cached?: unknown };

  return record.cached === true;
}

/** Resolves once the blob is in the edge's R2; throws if it is not after a bounded wait. */
export async function waitUntilCached(edgeUrl: string, digest: string): Promise<void> {
  for (let check = 0; check < CACHED_CHECKS; check++) {
    if (await isCached(edgeUrl, digest)) return;

    await new Promise((resolve) => setTimeout(resolve, CACHED_CHECK_PAUSE_MS));
  }

  throw new Error(`the edge did not cache ${digest} after its cold pull`);
}
