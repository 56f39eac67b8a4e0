/**
 * Invariant 1 under a misbehaving upstream: a flipped byte or a cut stream fails the caller's
 * download (it never ends cleanly), leaves nothing in R2 or KV, and once upstream is healthy
 * the same request succeeds.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltBlob } from '../harness/blob';
import { loggedEvents, type StartedEdge } from '../harness/edge';
import type { Fault, FaultProxy } from '../harness/fault-proxy';
import type { FixtureImage, StandardFixtures } from '../harness/fixtures';
import { type ProxiedStack, startProxiedStack } from '../harness/stack';

let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let stack: ProxiedStack;

beforeAll(async () => {
  stack = await startProxiedStack({ auth: 'none', bigLayerBytes: 8 * 1024 * 1024 });
  ({ fixtures, proxy, edge } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** The largest layer of a fixture, many chunks long. */
function largestLayer(fixture: FixtureImage): BuiltBlob {
  const layers = fixture.manifests[0]!.layers;
  return [...layers].sort((a, b) => b.size - a.size)[0]!;
}

function blobUrl(blob: BuiltBlob, repository = fixtures.dockerV2.repository): string {
  return `${edge.url}/v2/${proxy.host}/${repository}/blobs/${blob.digest}`;
}

/** Downloads the whole body; resolves with its bytes or rejects when the stream fails. */
async function download(url: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(url);
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, bytes };
}

/** Proves nothing is cached: with upstream answering 503, the edge has nothing to serve. */
async function expectNothingCached(url: string): Promise<void> {
  proxy.set({ kind: 'status', status: 503, body: '{"errors":[]}' });
  try {
    const response = await fetch(url);
    const body = (await response.json()) as { errors: { code: string }[] };
    expect(response.status).toBe(503);
    expect(body.errors[0]?.code).toBe('UNAVAILABLE');
  } finally {
    proxy.set(null);
  }
}

// Each fault gets its own image: a blob that one case left cached would hide the next.
const FAULTS: {
  name: string;
  fixture: () => FixtureImage;
  fault: (blob: BuiltBlob) => Fault;
}[] = [
  {
    name: 'one flipped byte',
    fixture: () => fixtures.dockerV2,
    fault: (blob) => ({ kind: 'flip', digest: blob.digest }),
  },
  {
    name: 'a stream cut halfway',
    fixture: () => fixtures.big!,
    fault: (blob) => ({ kind: 'cut', digest: blob.digest, afterBytes: Math.floor(blob.size / 2) }),
  },
];

describe.each(FAULTS)('an upstream sending $name', ({ fixture, fault }) => {
  it('fails a blob the edge knows from a manifest, caches nothing, then recovers', async () => {
    const image = fixture();
    const resolved = await fetch(`${edge.url}/hash/${proxy.host}/${image.repository}:1.0`);
    expect(resolved.status).toBe(200);
    const blob = largestLayer(image);
    const url = blobUrl(blob, image.repository);

    proxy.set(fault(blob));
    await expect(download(url)).rejects.toThrow();
    proxy.set(null);

    const record = await fetch(`${edge.url}/hash/${blob.digest}`);
    expect(await record.json()).toMatchObject({
      digest: blob.digest,
      size: blob.size,
      cached: false,
    });
    await expectNothingCached(url);

    const healthy = await download(url);
    expect(healthy.status).toBe(200);
    expect(sha256Hex(healthy.bytes)).toBe(blob.digest.slice('sha256:'.length));
    const after = await fetch(`${edge.url}/hash/${blob.digest}`);
    expect(await after.json()).toMatchObject({ cached: true });
  });
});

it('a corrupt blob fetched without any manifest leaves no KV record and no R2 object', async () => {
  const blob = fixtures.list.manifests[1]!.layers[0]!;
  const url = blobUrl(blob, fixtures.list.repository);

  proxy.set({ kind: 'flip', digest: blob.digest });
  await expect(download(url)).rejects.toThrow();
  proxy.set(null);

  const record = await fetch(`${edge.url}/hash/${blob.digest}`);
  expect(record.status).toBe(404);
  expect(await record.json()).toMatchObject({ errors: [{ code: 'BLOB_UNKNOWN' }] });
  await expectNothingCached(url);

  const healthy = await download(url);
  expect(healthy.status).toBe(200);
  expect(sha256Hex(healthy.bytes)).toBe(blob.digest.slice('sha256:'.length));
});

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Flips one byte of the single file in the edge's local R2 that holds `blob`. */
async function tamperStored(blob: BuiltBlob): Promise<void> {
  const stored = await filesHolding(edge.stateDir, blob.bytes!);
  expect(stored).toHaveLength(1);
  const tampered = Buffer.from(blob.bytes!);
  tampered[Math.floor(tampered.length / 2)]! ^= 0xff;
  await writeFile(stored[0]!, tampered);
}

/**
 * The files under `dir` whose content is exactly `bytes`. Local KV and R2 replace files as
 * background writes land; a file gone between listing and reading holds nothing of ours.
 */
async function filesHolding(dir: string, bytes: Uint8Array): Promise<string[]> {
  const holding = [];
  // A directory removed while it is listed fails the listing; the second look settles it.
  const files = await filesUnder(dir).catch(() => filesUnder(dir));
  for (const file of files) {
    const content = await readFile(file).catch(() => null);
    if (content?.equals(Buffer.from(bytes)) === true) holding.push(file);
  }
  return holding;
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

it('never serves a cached blob changed at rest: it fails, drops it, refetches', async () => {
  const image = fixtures.list.manifests[0]!;
  const blob = [...image.layers].sort((a, b) => b.size - a.size)[0]!;
  const url = blobUrl(blob, fixtures.list.repository);
  expect(
    (await fetch(`${edge.url}/hash/${proxy.host}/${fixtures.list.repository}:1.0`)).status,
  ).toBe(200);
  expect((await download(url)).status).toBe(200);
  await waitForCached(blob, true);

  await tamperStored(blob);

  await expect(download(url)).rejects.toThrow();
  await waitForCached(blob, false);
  const again = await download(url);
  expect(sha256Hex(again.bytes)).toBe(blob.digest.slice('sha256:'.length));
});

it('never streams an archive layer changed at rest: the archive fails, then heals', async () => {
  const image = fixtures.index.manifests[0]!;
  const blob = image.layers[0]!;
  const url = `${edge.url}/image/${proxy.host}/${fixtures.index.repository}@${image.digest}`;
  const start = streamedEvents().length;
  const first = await download(url);
  expect(first.status).toBe(200);
  await waitForCached(blob, true);
  expect(sha256Hex((await download(url)).bytes)).toBe(sha256Hex(first.bytes));
  // Each whole archive logs its event after its last byte: let both land before counting.
  await expect.poll(() => streamedEvents().length).toBe(start + 2);

  await tamperStored(blob);

  await expect(download(url)).rejects.toThrow();
  await waitForCached(blob, false);
  const streamedBefore = streamedEvents().length;
  expect(sha256Hex((await download(url)).bytes)).toBe(sha256Hex(first.bytes));

  // The plan no longer counted on the dropped layer: it was fetched again before the answer
  // began, so streaming spent no more subrequests than were set aside for it.
  await expect.poll(() => streamedEvents().length).toBe(streamedBefore + 1);
  const repaired = streamedEvents().at(-1)!;
  expect(repaired.subrequests).toBeLessThanOrEqual(repaired.planned);
});

/** The edge's `image-streamed` log events: subrequests spent, and those set aside. */
function streamedEvents(): { subrequests: number; planned: number }[] {
  return loggedEvents(edge, 'image-streamed') as { subrequests: number; planned: number }[];
}

/** Waits (bounded) until `/hash/<digest>` says the blob is, or is not, in R2. */
async function waitForCached(blob: BuiltBlob, want: boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const record = (await (await fetch(`${edge.url}/hash/${blob.digest}`)).json()) as {
      cached: boolean;
    };
    if (record.cached === want) return;
    if (Date.now() > deadline) throw new Error(`${blob.digest}: cached never became ${want}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
