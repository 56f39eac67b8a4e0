/** `GET /`: a short usage page, plain text for curl and HTML for a browser. */
import { Hono } from 'hono';
import type { AppEnv } from './context';
import { publicOrigin } from './params';

/** Routes for the usage page. */
export const homeRoutes = new Hono<AppEnv>();

const usage = (origin: string) => `hocker-edge: container images pinned for Nix

  curl ${origin}/nix/debian:bookworm > debian.nix
      a Nix expression whose fetchurl URLs point back here
      ?platform=linux/arm64/v8 or aarch64-linux; ?platform=all for every platform;
      ?format=fetchdocker for nixpkgs' fetchdocker; POST a manifest for docker2nix offline
  curl ${origin}/hash/ghcr.io/org/app:1.2
      JSON: manifest digests, platform, and every blob's size, Nix hash and URL
  curl ${origin}/hash/sha256:<hex>?format=nix32
      one blob's Nix hash (format=sri for SRI, none for JSON)
  curl -L ${origin}/image/debian:bookworm > debian.tar
      a docker-loadable archive, the same bytes every time
  ${origin}/v2/
      a read-only OCI registry API: /v2/<registry>/<repository>/manifests/<tag or digest>,
      .../blobs/sha256:<hex>, .../tags/list; or /v2/<repository>/...?ns=<registry> as a mirror
  ${origin}/sha256/<hex>
      a Nix hashed mirror for public blobs

References are written the way docker writes them: [registry[:port]/]repository[:tag][@digest].
Registry credentials go in Authorization (Basic or Bearer), for your own requests only.
`;

homeRoutes.get('/', (c) => {
  const text = usage(publicOrigin(new URL(c.req.url), c.get('ctx').config));
  c.get('ctx').log.set({ outcome: 'rendered' });
  if (!(c.req.header('Accept') ?? '').includes('text/html')) {
    return c.text(text);
  }
  return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hocker-edge</title></head>
<body><pre>${escapeHtml(text)}</pre></body></html>
`);
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
