/**
 * `GET /sha256/<hex>`: Nix's hashed-mirror layout (`hashed-mirrors = https://EDGE/` makes
 * Nix's builtin fetchurl try `https://EDGE/sha256/<hex>` before a file's own URL).
 *
 * Nix trusts a hashed mirror: a 200 with wrong bytes fails the build instead of moving on
 * (C49). So only bytes that are verified against the digest are ever sent: from R2 when the
 * object there is intact (size and checksum, checked by the store), else from upstream
 * through the verifying stream, which breaks the connection rather than end a wrong body.
 *
 * Only blobs fetched without credentials are served here, since a mirror has no caller to
 * check (C53): the KV record must say `anonymous`, the upstream fetch is made without the
 * caller's credentials, and an R2 object stored from a credentialed fetch is not used.
 * Anything else is 404 `BLOB_UNKNOWN`, so that Nix goes on to the next source.
 */
import { Hono } from 'hono';
import { openBlob } from '../blobs/pull';
import { type Digest, digestFromHex } from '../digest';
import { EdgeError, fail } from '../errors';
import type { Reference } from '../reference';
import type { AppEnv } from './context';

/** Routes for the hashed mirror. */
export const sha256Routes = new Hono<AppEnv>();

sha256Routes.get('/sha256/:hex', async (c) => {
  const ctx = c.get('ctx');
  const digest = digestFromHex(c.req.param('hex'));
  ctx.log.set({ digest });

  const record = await ctx.store.blobRecord(digest);
  if (record === null || !record.anonymous) throw notMirrored(digest);

  const reference: Reference = {
    registry: record.registry,
    repository: record.repository,
    tag: null,
    digest,
  };
  // The caller's credentials are left out: what needs them is not this mirror's to serve.
  const anonymous = { ...ctx, credentials: undefined };
  const blob = await openBlob(anonymous, reference, digest, {
    withBody: c.req.method !== 'HEAD',
    range: null,
  }).catch((error: unknown) => {
    throw isRefusal(error) ? notMirrored(digest) : error;
  });
  if (!blob.shareable) {
    await blob.body?.cancel();
    throw notMirrored(digest);
  }

  ctx.log.set({ outcome: blob.source === 'cache' ? 'hit' : 'miss' });
  const headers = new Headers({
    'Content-Type': 'application/octet-stream',
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: `"${digest}"`,
  });
  if (blob.size !== null) headers.set('Content-Length', String(blob.size));
  return new Response(blob.body, { headers });
});

// One answer for unknown and for credentialed blobs, so that the mirror does not tell
// anyone which private digests exist.
function notMirrored(digest: Digest): EdgeError {
  return fail.blobUnknown(
    `this mirror serves only blobs the edge has fetched without credentials, and ${digest} ` +
      'is not among them',
  );
}

// Upstream or the edge said "not without credentials" (or the registry is no longer allowed):
// for a mirror that only means the blob is not here.
function isRefusal(error: unknown): boolean {
  return (
    error instanceof EdgeError &&
    (error.code === 'UNAUTHORIZED' || error.code === 'DENIED' || error.status === 403)
  );
}
