/**
 * The read-only OCI distribution API: `/v2/<registry>/<repository>/manifests|blobs/<ref>`,
 * the same with the registry as a prefix before `/v2` (`/<registry>/v2/<repository>/...`),
 * and the mirror form `/v2/<repository>/...` whose registry is `?ns=` or the default. The
 * bytes are always exactly upstream's, with our own verified `Docker-Content-Digest`.
 */
import { type Context as HonoContext, Hono } from 'hono';
import { type OpenedBlob, openBlob } from '../blobs/pull';
import type { Config } from '../config';
import { type Digest, parseDigest } from '../digest';
import { fail } from '../errors';
import { normaliseRegistry, parseReference, type Reference } from '../reference';
import { normalizeMediaType } from '../registry/manifest';
import { type Context, fetchManifest } from '../resolve';
import { listTags } from '../tags';
import type { AppEnv } from './context';

/** What a `/v2/...` path names. */
export interface V2Target {
  reference: Reference;
  kind: 'manifests' | 'blobs' | 'tags';
}

const V2_PATH = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/;

/**
 * Parses a `/v2/` path (after the base) into a reference, or throws `NAME_INVALID`. Messages
 * quote `asSent`, the path as the client wrote it (the prefix form is rewritten to `path`).
 */
export function parseV2Path(
  path: string,
  ns: string | undefined,
  config: Config,
  asSent = path,
): V2Target {
  refuseUnservedApis(path);
  const match = V2_PATH.exec(path);
  if (match === null) {
    throw fail.nameInvalid(
      `'${asSent}' is not /v2/<registry>/<repository>/manifests|blobs/<tag or digest> ` +
        'or /v2/<registry>/<repository>/tags/list',
    );
  }
  const [, name, kind, target] = match as unknown as [string, string, V2Target['kind'], string];
  if (name.startsWith('v2/') || name.includes('/v2/')) throw doubledV2(asSent);

  const firstComponent = name.split('/', 1)[0]!;
  const hasRegistry = /[.:]/.test(firstComponent) || firstComponent === 'localhost';
  // `ns` names a registry and nothing else: a path or userinfo in it must not reach a URL.
  const registry = hasRegistry
    ? ''
    : `${ns === undefined ? config.defaultRegistry : nsRegistry(ns)}/`;
  if (kind === 'blobs') parseDigest(target);
  if (kind === 'tags' && target !== 'list') throw fail.nameInvalid(`'${path}' ends in tags/list`);

  const separator = target.startsWith('sha256:') || target.includes(':') ? '@' : ':';
  const suffix = kind === 'tags' ? '' : `${separator}${target}`;
  const reference = parseReference(`${registry}${name}${suffix}`, config.defaultRegistry);
  return { reference, kind };
}

// Parts of the distribution API a read-only mirror of named images does not serve: say so,
// rather than call the path a bad name.
function refuseUnservedApis(path: string): void {
  if (/^\/v2\/(?:[^/]+\/)?_catalog\/?$/.test(path)) {
    throw fail.unsupported('the edge lists no catalog: name a repository', undefined, 404);
  }
  if (/\/blobs\/uploads(\/|$)/.test(path)) {
    throw fail.unsupported(
      'this edge is a read-only mirror: push to the registry itself',
      undefined,
      405,
    );
  }
  if (/\/referrers\/[^/]+$/.test(path)) {
    throw fail.unsupported('the edge does not serve the referrers API', undefined, 404);
  }
}

// A mirror URL configured with `/v2` in it, which the client then adds again.
function doubledV2(path: string) {
  return fail.nameUnknown(
    `'${path}' has /v2 twice: a mirror URL names /v2/<registry> (containerd: with ` +
      'override_path = true) or /<registry> (the client adds /v2 after it), not both',
  );
}

function nsRegistry(ns: string): string {
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(ns)) {
    throw fail.nameInvalid(`ns=${JSON.stringify(ns)} is not a registry host[:port]`);
  }
  return normaliseRegistry(ns);
}

/** Routes for the OCI pull API. */
export const v2 = new Hono<AppEnv>();

// The base answers 401 to a caller without credentials: skopeo and docker ping it and send
// the credentials they hold only after a challenge there. Without any, they carry on
// anonymously, and anonymous pulls work as before.
v2.get('/v2/', (c) => answerBase(c.get('ctx')));
v2.get('/v2', (c) => answerBase(c.get('ctx')));

function answerBase(ctx: Context): Response {
  if (ctx.credentials === undefined) {
    throw fail.unauthorized('this edge accepts registry credentials; none were sent');
  }
  return Response.json({});
}

// The prefix form: Docker 25+ and containerd (without override_path) put a mirror URL's path
// before the `/v2` they add, so `http://edge/<registry>` as a mirror reaches these. Only a
// first segment that names a registry host (a dot, a port or localhost) is taken as one.
const PREFIX = '/:prefix{[^/]*[.:][^/]*|localhost}/v2';

v2.get(`${PREFIX}/`, (c) => answerBase(c.get('ctx')));
v2.get(PREFIX, (c) => answerBase(c.get('ctx')));

v2.get(`${PREFIX}/*`, async (c) => {
  const url = new URL(c.req.url);
  // The raw segment, as the path-in form would carry it: `/<registry>/v2/<rest>`.
  const registry = url.pathname.split('/', 2)[1]!;
  const rest = url.pathname.slice(`/${registry}/v2/`.length);
  return await answerV2(c, url, `/v2/${registry}/${rest}`);
});

// The edge is a read-only registry: pushes and deletes get the spec's answer, not a 404.
v2.on(['POST', 'PUT', 'PATCH', 'DELETE'], ['/v2', '/v2/*', PREFIX, `${PREFIX}/*`], () => {
  throw fail.unsupported(
    'this edge is a read-only mirror: push to the registry itself',
    undefined,
    405,
  );
});

v2.get('/v2/*', async (c) => {
  const url = new URL(c.req.url);
  return await answerV2(c, url, url.pathname);
});

/**
 * Answers `path`, a `/v2/...` path in the registry-in-path or mirror form; `url` is what the
 * client asked for, whose shape the tag list's next-page link keeps.
 */
async function answerV2(c: HonoContext<AppEnv>, url: URL, path: string): Promise<Response> {
  const ctx = c.get('ctx');
  const ns = url.searchParams.get('ns') ?? undefined;
  const { reference, kind } = parseV2Path(path, ns, ctx.config, url.pathname);
  ctx.log.set({ reference: `${reference.registry}/${reference.repository}` });
  const isHead = c.req.method === 'HEAD';

  if (kind === 'tags') {
    const page = await listTags(ctx, reference, url.searchParams);
    ctx.log.set({ outcome: 'rendered' });
    const headers = new Headers({ 'Content-Type': 'application/json' });
    if (page.next !== null) {
      const ns = url.searchParams.get('ns');
      if (ns !== null) page.next.set('ns', ns);
      headers.set('Link', `<${url.pathname}?${page.next.toString()}>; rel="next"`);
    }
    // The name as the client wrote it, after its `/v2/`.
    const name = url.pathname.slice(url.pathname.indexOf('/v2/') + 4, -'/tags/list'.length);
    return new Response(JSON.stringify({ name, tags: page.tags }), { headers });
  }

  if (kind === 'manifests') {
    const manifest = await fetchManifest(ctx, reference);
    ctx.log.set({ digest: manifest.digest, outcome: 'rendered' });
    checkAccepted(c.req.header('Accept'), manifest.mediaType, manifest.digest);

    const headers = new Headers({
      'Content-Type': manifest.mediaType,
      'Content-Length': String(manifest.bytes.byteLength),
      'Docker-Content-Digest': manifest.digest,
      ETag: `"${manifest.digest}"`,
    });
    if (manifest.stale && manifest.tagConfirmedAt !== null) {
      headers.set(
        'X-Hocker-Stale',
        `upstream failed; tag last confirmed ${isoDate(manifest.tagConfirmedAt)}`,
      );
    }
    return new Response(isHead ? null : manifest.bytes, { headers });
  }

  const digest = reference.digest as Digest;
  ctx.log.set({ digest });
  const blob = await openBlob(ctx, reference, digest, {
    withBody: !isHead,
    range: c.req.header('Range') ?? null,
  });
  return new Response(blob.body, {
    status: blob.range ? 206 : 200,
    headers: blobHeaders(blob, digest),
  });
}

function blobHeaders(blob: OpenedBlob, digest: Digest): Headers {
  const headers = new Headers({
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    // Content is immutable under its digest; private content must stay out of shared caches.
    'Cache-Control': `${blob.shareable ? 'public' : 'private'}, max-age=31536000, immutable`,
  });

  const { range, size } = blob;
  if (range !== null) {
    headers.set('Content-Range', `bytes ${range.start}-${range.end}/${range.size}`);
    headers.set('Content-Length', String(range.end - range.start + 1));
  } else if (size !== null) {
    headers.set('Content-Length', String(size));
  }
  return headers;
}

// Types a client may write that accept any manifest: wildcards, and plain JSON (old clients).
const ACCEPT_ANY = new Set(['*/*', 'application/*', 'application/json']);

/**
 * Refuses a manifest the client said it cannot read, the way registries do (404 naming the
 * type), rather than sending bytes it would misparse. Accept values may arrive on several
 * header lines (skopeo) or one comma-joined line (docker); the runtime joins them with commas.
 */
function checkAccepted(accept: string | undefined, mediaType: string, digest: Digest): void {
  const accepted = (accept ?? '')
    .split(',')
    .map((value) => normalizeMediaType(value))
    .filter((value) => value !== '');
  if (accepted.length === 0 || accepted.includes(mediaType)) return;
  if (accepted.some((value) => ACCEPT_ANY.has(value))) return;

  throw fail.manifestUnknown(
    `manifest ${digest} is ${mediaType}, which the request's Accept header does not list`,
    { mediaType, accepted },
  );
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}
