/** `GET /nix/<reference>`: the Nix expression that pins an image. */
import { Hono } from 'hono';
import { fetchurlExpression } from '../nix/expression';
import { formatReference } from '../reference';
import { resolveImage } from '../resolve';
import type { AppEnv } from './context';
import { choiceParam, platformParam, publicOrigin, referenceAfter } from './params';

/** Routes for Nix expressions. */
export const nixRoutes = new Hono<AppEnv>();

nixRoutes.get('/nix/*', async (c) => {
  const ctx = c.get('ctx');
  const url = new URL(c.req.url);
  const reference = referenceAfter(url, '/nix/', ctx.config);
  const platform = platformParam(url, ctx.config);
  choiceParam(url, 'format', ['fetchurl'] as const);
  ctx.log.set({ reference: formatReference(reference) });

  const image = await resolveImage(ctx, reference, platform);
  ctx.log.set({ digest: image.manifestDigest, outcome: 'rendered' });
  return c.body(fetchurlExpression(image, publicOrigin(url, ctx.config)), 200, {
    'Content-Type': 'text/x-nix; charset=utf-8',
  });
});
