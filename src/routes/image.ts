/**
 * `GET /image/<reference>`: a docker-loadable archive. A tag (or an index digest) redirects
 * to the URL pinned to the platform manifest's digest, whose bytes never change.
 */
import { Hono } from 'hono';
import { budgetTooSmall } from '../budget';
import { withCheckedPlatform } from '../every-platform';
import { archiveStream, imageUrl, planArchive } from '../image/archive';
import { fingerprinting } from '../image/fingerprint';
import { logEvent } from '../log';
import { formatReference } from '../reference';
import { resolveImage } from '../resolve';
import type { AppEnv } from './context';
import { platformNamed, platformParam, publicOrigin, referenceAfter } from './params';

/** Routes for image archives. */
export const imageRoutes = new Hono<AppEnv>();

imageRoutes.get('/image/*', async (c) => {
  const ctx = c.get('ctx');
  const url = new URL(c.req.url);
  const reference = referenceAfter(url, '/image/', ctx.config);
  ctx.log.set({ reference: formatReference(reference) });

  const platform = platformParam(url, ctx.config);
  const resolved = await resolveImage(ctx, reference, platform);
  const image = platformNamed(url)
    ? await withCheckedPlatform(ctx, resolved, platform, 'upstream')
    : resolved;
  if (reference.digest !== image.manifestDigest) {
    ctx.log.set({ outcome: 'rendered' });
    return c.redirect(imageUrl(publicOrigin(url, ctx.config), image), 302);
  }

  const plan = await planArchive(ctx, image);
  ctx.log.set({ digest: image.manifestDigest, bytes: plan.size, outcome: 'rendered' });
  const headers = {
    'Content-Type': 'application/x-tar',
    'Content-Length': String(plan.size),
    'Content-Disposition': `attachment; filename="${reference.repository.split('/').pop()}.tar"`,
    'Cache-Control': 'private, max-age=31536000, immutable',
  };
  if (c.req.method === 'HEAD') return new Response(null, { headers });
  // From here on a failure would cut the archive short: make sure it cannot run out.
  if (plan.remembered && plan.streamingSubrequests > ctx.budget.remaining) {
    const needed = ctx.budget.used + plan.streamingSubrequests;
    throw budgetTooSmall(ctx.budget.limit, needed, `this archive, with every layer cached,`);
  }
  ctx.budget.require(plan.streamingSubrequests, 'streaming the archive');
  const planned = ctx.budget.used + plan.streamingSubrequests;

  const archive = { manifestDigest: image.manifestDigest, tag: reference.tag };
  let fingerprinted: Promise<unknown> = Promise.resolve();
  const keepFingerprint = (write: Promise<unknown>) => {
    fingerprinted = write;
    ctx.waitUntil(write);
  };
  const body = fingerprinting(archiveStream(ctx, plan), ctx.store, archive, keepFingerprint);
  const fixed = new FixedLengthStream(plan.size);
  body.pipeTo(fixed.writable).then(
    async () => {
      // What was set aside against what the archive took, so a wrong estimate shows in logs.
      await fingerprinted;
      logEvent('info', 'image-streamed', { subrequests: ctx.budget.used, planned });
    },
    (error: unknown) =>
      logEvent('warn', 'image-stream-failed', {
        manifest: image.manifestDigest,
        reason: String(error),
      }),
  );
  return new Response(fixed.readable, { headers });
});
