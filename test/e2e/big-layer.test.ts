/**
 * Invariant 2 at size: a 256 MiB layer streams through the edge's stable blob URL intact,
 * first from upstream (cold, written behind into R2), then from R2 alone (warm). The test
 * hashes each body as it arrives and never holds one in memory.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltBlob } from '../harness/blob';
import { startEdge, type StartedEdge } from '../harness/edge';
import { type FaultProxy, type ProxiedRequest, startFaultProxy } from '../harness/fault-proxy';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import { startRegistry, type StartedRegistry } from '../harness/registry';

const BIG_LAYER_BYTES = 256 * 1024 * 1024;

// The edge commits the R2 object in `waitUntil`, possibly just after the client read the last
// byte; a bounded number of /hash looks lets that finish without timing anything.
const CACHED_CHECKS = 100;

// A cold pull moves at the pace of local R2's emulated put (tens of MiB/s, see bench/), and
// slower still while other suites share the two cores.
const TEST_TIMEOUT_MS = 300_000;

let registry: StartedRegistry;
let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
  // Pushed straight to the registry: the proxy sees only what the edge asks for.
  fixtures = await pushStandardFixtures(registry, { bigLayerBytes: BIG_LAYER_BYTES });
  proxy = await startFaultProxy(registry.url);
  edge = await startEdge({ registries: [`http://${proxy.host}`] });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await proxy?.stop();
  await registry?.stop();
  await fixtures?.cleanup();
});

/** What a streamed download delivered: status, announced length, byte count and sha256. */
interface Download {
  status: number;
  contentLength: string | null;
  bytes: number;
  digest: string;
}

/** Downloads `url`, hashing and counting each chunk as it arrives and keeping none. */
async function hashDownload(url: string): Promise<Download> {
  const response = await fetch(url);
  const hash = createHash('sha256');
  let bytes = 0;
  const reader = response.body?.getReader();
  for (let read = await reader?.read(); read?.done === false; read = await reader?.read()) {
    hash.update(read.value);
    bytes += read.value.byteLength;
  }

  return {
    status: response.status,
    contentLength: response.headers.get('Content-Length'),
    bytes,
    digest: `sha256:${hash.digest('hex')}`,
  };
}

/** How many GETs of `blob` reached the registry through the proxy so far. */
function upstreamGets(blob: BuiltBlob): number {
  const isBlobGet = (r: ProxiedRequest) =>
    r.method === 'GET' && r.path.split('?')[0]?.endsWith(`/blobs/${blob.digest}`) === true;

  return proxy.requests.filter(isBlobGet).length;
}

/** `/hash/<digest>`'s `cached`, asked until it is true or `CACHED_CHECKS` answers said false. */
async function becomesCached(blob: BuiltBlob): Promise<boolean> {
  for (let check = 0; check < CACHED_CHECKS; check++) {
    const response = await fetch(`${edge.url}/hash/${blob.digest}`);
    const record = (await response.json()) as { cached?: boolean };
    if (record.cached === true) return true;

    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return false;
}

function expectWhole(download: Download, blob: BuiltBlob): void {
  expect(download).toEqual({
    status: 200,
    contentLength: String(blob.size),
    bytes: blob.size,
    digest: blob.digest,
  });
}

describe('a 256 MiB layer at its stable blob URL', () => {
  it('streams intact from upstream, then from R2 alone', { timeout: TEST_TIMEOUT_MS }, async () => {
    const image = fixtures.big!;
    const layer = image.manifests[0]!.layers[0]!;
    expect(layer.size).toBeGreaterThanOrEqual(BIG_LAYER_BYTES);
    const reference = `${proxy.host}/${image.repository}:${image.tag}`;
    expect((await fetch(`${edge.url}/hash/${reference}`)).status).toBe(200);
    const before = await fetch(`${edge.url}/hash/${layer.digest}`);
    expect(await before.json()).toMatchObject({ digest: layer.digest, cached: false });
    const url = `${edge.url}/v2/${proxy.host}/${image.repository}/blobs/${layer.digest}`;

    expectWhole(await hashDownload(url), layer);
    expect(upstreamGets(layer)).toBe(1);
    expect(await becomesCached(layer)).toBe(true);

    expectWhole(await hashDownload(url), layer);
    expect(upstreamGets(layer)).toBe(1);
  });
});
