/**
 * Tags move; digests do not. A tag's digest is trusted for TAG_TTL_SECONDS, then revalidated
 * with a HEAD (which Docker Hub does not count as a pull), and a moved tag is followed. A
 * registry that refuses HEAD on manifests, or leaves out `Docker-Content-Digest`, costs a GET
 * instead, never a wrong digest.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StartedEdge } from '../harness/edge';
import type { FaultProxy } from '../harness/fault-proxy';
import type { StandardFixtures } from '../harness/fixtures';
import { pushManifest } from '../harness/push';
import type { StartedRegistry } from '../harness/registry';
import { type ProxiedStack, startProxiedStack } from '../harness/stack';

const TTL_SECONDS = 2;

let registry: StartedRegistry;
let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let stack: ProxiedStack;

beforeAll(async () => {
  stack = await startProxiedStack({ auth: 'none', vars: { TAG_TTL_SECONDS: String(TTL_SECONDS) } });
  ({ registry, fixtures, proxy, edge } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The digest `/hash` resolves the tag to, and the manifest requests it cost upstream. */
async function resolveTag(tag = '1.0'): Promise<{ imageDigest: string; upstream: string[] }> {
  const before = proxy.requests.length;
  const response = await fetch(`${edge.url}/hash/${proxy.host}/${fixtures.list.repository}:${tag}`);
  const body = (await response.json()) as { imageDigest: string };
  expect(response.status, JSON.stringify(body)).toBe(200);

  const upstream = proxy.requests
    .slice(before)
    .filter((r) => r.path.includes('/manifests/'))
    .map((r) => `${r.method} ${r.path.slice(r.path.lastIndexOf('/') + 1)}`);
  return { imageDigest: body.imageDigest, upstream };
}

it('trusts a tag for its TTL, revalidates it with HEAD, and follows it when it moves', async () => {
  const index = fixtures.list.top;
  const amd64 = fixtures.list.manifests.find((m) => m.platform.architecture === 'amd64')!;

  const first = await resolveTag();
  expect(first.imageDigest).toBe(index.digest);
  expect(first.upstream).toEqual(['GET 1.0', `GET ${amd64.digest}`]);

  const fresh = await resolveTag();
  expect(fresh).toEqual({ imageDigest: index.digest, upstream: [] });

  await sleep(TTL_SECONDS * 1000 + 200);
  const revalidated = await resolveTag();
  expect(revalidated).toEqual({ imageDigest: index.digest, upstream: ['HEAD 1.0'] });

  await pushManifest(registry, fixtures.list.repository, '1.0', amd64.bytes, amd64.mediaType);
  const stillTrusted = await resolveTag();
  expect(stillTrusted.imageDigest).toBe(index.digest);

  await sleep(TTL_SECONDS * 1000 + 200);
  const moved = await resolveTag();
  expect(moved).toEqual({ imageDigest: amd64.digest, upstream: ['HEAD 1.0', 'GET 1.0'] });
});

it('revalidates with a GET where HEAD is refused or carries no digest (C46, C05)', async () => {
  const image = fixtures.list.manifests.find((m) => m.platform.architecture === 'arm64')!;
  const refusals = [405, 403, 404];
  const tags = [...refusals.map((status) => `head-${status}`), 'no-digest'];
  for (const tag of tags) {
    await pushManifest(registry, fixtures.list.repository, tag, image.bytes, image.mediaType);
  }

  // First sight of a tag whose GET carries no digest header: the edge hashes the bytes.
  proxy.set({ kind: 'drop-header', header: 'Docker-Content-Digest', match: /no-digest$/ });
  const first = await resolveTag('no-digest');
  proxy.set(null);
  expect(first).toEqual({ imageDigest: image.digest, upstream: ['GET no-digest'] });
  for (const status of refusals) await resolveTag(`head-${status}`);

  await sleep(TTL_SECONDS * 1000 + 200);
  for (const status of refusals) {
    proxy.set({ kind: 'status', status, match: /\/manifests\/head-/, methods: ['HEAD'] });
    const revalidated = await resolveTag(`head-${status}`);
    proxy.set(null);
    const tag = `head-${status}`;
    expect(revalidated, String(status)).toEqual({
      imageDigest: image.digest,
      upstream: [`HEAD ${tag}`, `GET ${tag}`],
    });
  }
  proxy.set({ kind: 'drop-header', header: 'Docker-Content-Digest', match: /no-digest$/ });
  const noDigest = await resolveTag('no-digest');
  const head = await fetch(
    `${edge.url}/v2/${proxy.host}/${fixtures.list.repository}/manifests/no-digest`,
    {
      method: 'HEAD',
      headers: { Accept: image.mediaType },
    },
  );
  proxy.set(null);

  expect(noDigest).toEqual({
    imageDigest: image.digest,
    upstream: ['HEAD no-digest', 'GET no-digest'],
  });
  // The edge's own answer carries the digest and length upstream left out (C43, C57).
  expect(head.status).toBe(200);
  expect(head.headers.get('Docker-Content-Digest')).toBe(image.digest);
  expect(head.headers.get('Content-Length')).toBe(String(image.bytes.byteLength));
});
