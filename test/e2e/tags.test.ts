/**
 * Tags move; digests do not. A tag's digest is trusted for TAG_TTL_SECONDS, then revalidated
 * with a HEAD (which Docker Hub does not count as a pull), and a moved tag is followed.
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
async function resolveTag(): Promise<{ imageDigest: string; upstream: string[] }> {
  const before = proxy.requests.length;
  const response = await fetch(`${edge.url}/hash/${proxy.host}/${fixtures.list.repository}:1.0`);
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
