/**
 * Blob downloads that the registry hands to signed storage URLs (case C22): the edge follows
 * the redirects by hand, sends the storage host neither `Authorization` nor cookies (S3
 * answers 400 to them), passes the signed query on intact, verifies the bytes, and keeps
 * neither the signed URL nor wrong bytes. Chains of up to 5 redirects are followed; a 6th,
 * or one to a scheme other than http(s), is a 502.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltBlob } from '../harness/blob';
import { startEdge, type StartedEdge } from '../harness/edge';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy';
import { buildImage, buildLayer, type BuiltManifest } from '../harness/image-builder';
import { secretsKeptBy } from '../harness/leaks';
import { pushImage } from '../harness/push-image';
import { startRegistry, type StartedRegistry } from '../harness/registry';
import { startStorageHost, type StorageHost } from '../harness/storage-host';
import { basicAuthorization, READER } from '../harness/users';

const PUBLIC_REPO = 'redirects/app';
const PRIVATE_REPO = 'private/redirects';
const TAG = '1.0';
// What the edge follows (src/registry/client.ts); the registry's own 307 counts as one.
const MAX_REDIRECTS = 5;

let registry: StartedRegistry;
let storage: StorageHost;
let proxy: FaultProxy;
let edge: StartedEdge;
let publicImage: BuiltManifest;
let privateImage: BuiltManifest;
// A Basic-auth registry, whose redirects the edge follows having sent credentials.
let basicRegistry: StartedRegistry;
let basicProxy: FaultProxy;
let basicImage: BuiltManifest;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'token' });
  storage = await startStorageHost();
  // Each case gets its own layer: one that a case left cached would hide the next.
  publicImage = buildTestImage(12);
  privateImage = buildTestImage(1);
  await pushImage(registry, PUBLIC_REPO, publicImage, TAG);
  await pushImage(registry, PRIVATE_REPO, privateImage, TAG);
  for (const blob of [...publicImage.layers, ...privateImage.layers]) {
    storage.put(blob.digest, blob.bytes!);
  }
  proxy = await startFaultProxy(registry.url);

  basicRegistry = await startRegistry({ auth: 'htpasswd' });
  basicImage = buildTestImage(1);
  await pushImage(basicRegistry, PRIVATE_REPO, basicImage, TAG);
  basicProxy = await startFaultProxy(basicRegistry.url);

  edge = await startEdge({ registries: [`http://${proxy.host}`, `http://${basicProxy.host}`] });

  // The manifest gives the edge each blob's size and a KV record that says whether it is cached.
  const resolved = await fetch(`${edge.url}/hash/${proxy.host}/${PUBLIC_REPO}:${TAG}`);
  expect(resolved.status).toBe(200);
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await proxy?.stop();
  await basicProxy?.stop();
  await storage?.stop();
  await registry?.stop();
  await basicRegistry?.stop();
});

/** An OCI image of `layers` layers, each about 64 KiB of random bytes (several chunks). */
function buildTestImage(layers: number): BuiltManifest {
  const built = Array.from({ length: layers }, (_, i) =>
    buildLayer({ [`data/${i}`]: randomBytes(64 * 1024) }, 'oci'),
  );
  const platform = { architecture: 'amd64', os: 'linux' };
  return buildImage({ format: 'oci', platform, layers: built });
}

function blobUrl(blob: BuiltBlob, repository = PUBLIC_REPO): string {
  return `${edge.url}/v2/${proxy.host}/${repository}/blobs/${blob.digest}`;
}

/** Makes the registry answer GETs of `blob` with a 307 to `location`, until cleared. */
function redirectBlob(blob: BuiltBlob, location: string, methods?: ('GET' | 'HEAD')[]): void {
  proxy.set({ kind: 'redirect', digest: blob.digest, location, ...(methods && { methods }) });
}

/** Downloads the whole body; resolves with its bytes or rejects when the stream fails. */
async function download(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { response, bytes };
}

async function expectExactBlob(url: string, blob: BuiltBlob, headers?: Record<string, string>) {
  const { response, bytes } = await download(url, headers);
  expect(response.status).toBe(200);
  expect(response.headers.get('Docker-Content-Digest')).toBe(blob.digest);
  expect(bytes.equals(Buffer.from(blob.bytes!))).toBe(true);
  expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(blob.digest);
}

async function expectUnavailable(response: Response, message: RegExp): Promise<void> {
  const body = (await response.json()) as { errors: { code: string; message: string }[] };
  expect(response.status).toBe(502);
  expect(body.errors[0]?.code).toBe('UNAVAILABLE');
  expect(body.errors[0]?.message).toMatch(message);
}

async function errorCode(response: Response): Promise<string | undefined> {
  return ((await response.json()) as { errors: { code: string }[] }).errors[0]?.code;
}

/** Whether the edge holds the blob, according to its own `/hash/sha256:` answer. */
// A private blob's record is shown only to a caller the registry accepts.
async function isCached(blob: BuiltBlob, headers: Record<string, string> = {}): Promise<boolean> {
  const response = await fetch(`${edge.url}/hash/${blob.digest}`, { headers });
  expect(response.status).toBe(200);
  return ((await response.json()) as { cached: boolean }).cached;
}

/** Proves nothing is cached: with upstream answering 503, the edge has nothing to serve. */
async function expectNothingCached(blob: BuiltBlob): Promise<void> {
  expect(await isCached(blob)).toBe(false);
  proxy.set({ kind: 'status', status: 503, body: '{"errors":[]}' });
  try {
    const response = await fetch(blobUrl(blob));
    expect(response.status).toBe(503);
    expect(await errorCode(response)).toBe('UNAVAILABLE');
  } finally {
    proxy.set(null);
  }
}

/** R2 writes finish after the response (waitUntil); wait for this one to land. */
async function waitUntilCached(blob: BuiltBlob, headers: Record<string, string> = {}) {
  const deadline = Date.now() + 10_000;
  while (!(await isCached(blob, headers))) {
    if (Date.now() > deadline) throw new Error(`${blob.digest} was not cached within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function storageRequestsFor(blob: BuiltBlob) {
  const hex = blob.digest.slice('sha256:'.length);
  return storage.requests.filter((request) => request.path.includes(hex));
}

function expectNoCredentialsAtStorage(): void {
  const carrying = storage.requests.filter((r) => r.authorization !== null || r.cookie !== null);
  expect(carrying).toEqual([]);
}

describe('a registry that redirects blob GETs to a signed storage URL', () => {
  it('serves the exact bytes, sends storage no Authorization, and caches them', async () => {
    const blob = publicImage.layers[0]!;
    const path = `/v2/${PUBLIC_REPO}/blobs/${blob.digest}`;
    redirectBlob(blob, storage.signedUrl(blob.digest));
    try {
      await expectExactBlob(blobUrl(blob), blob);
    } finally {
      proxy.set(null);
    }

    // The registry got the token (so there was one to leak); storage got the signed GET only.
    expect(proxy.authorized.some((r) => r.method === 'GET' && r.path === path)).toBe(true);
    expect(storageRequestsFor(blob).map((r) => [r.method, r.status])).toEqual([['GET', 200]]);
    expectNoCredentialsAtStorage();

    await waitUntilCached(blob);
    await expectExactBlob(blobUrl(blob), blob);
    expect(storageRequestsFor(blob)).toHaveLength(1);
  });

  it.each([3, MAX_REDIRECTS])('follows a chain of %i redirects', async (redirects) => {
    const blob = publicImage.layers[redirects === 3 ? 1 : 2]!;
    redirectBlob(blob, storage.signedUrl(blob.digest, { hops: redirects - 1 }));
    try {
      await expectExactBlob(blobUrl(blob), blob);
    } finally {
      proxy.set(null);
    }

    const statuses = storageRequestsFor(blob).map((r) => r.status);
    expect(statuses).toEqual([...Array<number>(redirects - 1).fill(307), 200]);
    expectNoCredentialsAtStorage();
    await waitUntilCached(blob);
  });

  it(`answers 502 UNAVAILABLE after ${MAX_REDIRECTS} redirects, and caches nothing`, async () => {
    const blob = publicImage.layers[3]!;
    redirectBlob(blob, storage.signedUrl(blob.digest, { hops: MAX_REDIRECTS }));
    try {
      await expectUnavailable(await fetch(blobUrl(blob)), /redirected more than 5 times/);
    } finally {
      proxy.set(null);
    }

    // The registry's 307 and 4 hops were followed; the 5th hop's redirect was not.
    const statuses = storageRequestsFor(blob).map((r) => r.status);
    expect(statuses).toEqual(Array<number>(MAX_REDIRECTS).fill(307));
    await expectNothingCached(blob);
  });

  const REFUSED = [
    { name: 'ftp', layer: 4, location: (hex: string) => `ftp://127.0.0.1:21/data/${hex}` },
    { name: 'file', layer: 5, location: () => 'file:///etc/passwd' },
    { name: 'data', layer: 6, location: () => 'data:application/octet-stream;base64,AAAA' },
    { name: 'javascript', layer: 7, location: () => 'javascript:alert(1)' },
    {
      name: 'http with credentials in the URL',
      layer: 8,
      location: (hex: string) => `${storage.url.replace('//', '//user:secret@')}/data/${hex}`,
    },
  ];

  it.each(REFUSED)('answers 502 UNAVAILABLE to a redirect to $name', async (row) => {
    const blob = publicImage.layers[row.layer]!;
    const before = storage.requests.length;
    redirectBlob(blob, row.location(blob.digest.slice('sha256:'.length)));
    try {
      await expectUnavailable(await fetch(blobUrl(blob)), /redirected to a URL the edge refuses/);
    } finally {
      proxy.set(null);
    }

    expect(storage.requests.length).toBe(before);
    await expectNothingCached(blob);
  });

  it('fails a download whose storage bytes are wrong, caches nothing, then recovers', async () => {
    const blob = publicImage.layers[9]!;
    const flipped = Buffer.from(blob.bytes!);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = flipped[middle]! ^ 0xff;
    storage.put(blob.digest, flipped);
    redirectBlob(blob, storage.signedUrl(blob.digest));
    try {
      await expect(download(blobUrl(blob))).rejects.toThrow();
    } finally {
      proxy.set(null);
    }
    await expectNothingCached(blob);

    storage.put(blob.digest, blob.bytes!);
    redirectBlob(blob, storage.signedUrl(blob.digest));
    try {
      await expectExactBlob(blobUrl(blob), blob);
    } finally {
      proxy.set(null);
    }
    await waitUntilCached(blob);
  });
});

describe('a private blob behind a redirect', () => {
  it('reaches storage with no credentials or token; access checks skip storage', async () => {
    const blob = privateImage.layers[0]!;
    const reader = { Authorization: basicAuthorization(READER) };
    const url = blobUrl(blob, PRIVATE_REPO);
    const image = `${edge.url}/hash/${proxy.host}/${PRIVATE_REPO}:${TAG}`;
    expect((await fetch(image, { headers: reader })).status).toBe(200);
    // HEAD too: a HEAD that followed a URL signed for GET would meet S3's 403.
    redirectBlob(blob, storage.signedUrl(blob.digest), ['GET', 'HEAD']);
    try {
      await expectExactBlob(url, blob, reader);
      await waitUntilCached(blob, reader);
      const before = storage.requests.length;

      await expectExactBlob(url, blob, reader);
      const head = await fetch(url, { method: 'HEAD', headers: reader });
      expect(head.status).toBe(200);
      expect(head.headers.get('Content-Length')).toBe(String(blob.size));
      expect(storage.requests.length).toBe(before);
    } finally {
      proxy.set(null);
    }

    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(await errorCode(anonymous)).toBe('UNAUTHORIZED');
    expectNoCredentialsAtStorage();
  });
});

describe('a redirect target that refuses', () => {
  const reader = { Authorization: basicAuthorization(READER) };

  const CALLERS = [
    { who: 'an anonymous caller', layer: 10, headers: {} },
    { who: 'a caller with credentials', layer: 11, headers: reader },
  ];

  // S3 answers 403 to a signature that is wrong or expired: that is upstream failing, not
  // the registry refusing the caller, so it must neither look like DENIED nor make the edge
  // try again with the caller's credentials (which would also mark public bytes private).
  it.each(CALLERS)('with 403 is a 502 UNAVAILABLE to $who, not retried', async (row) => {
    const blob = publicImage.layers[row.layer]!;
    const tokens = registry.tokenServer!.requests;
    const before = tokens.length;
    const signed = storage.signedUrl(blob.digest);
    redirectBlob(blob, signed.replace(/X-Amz-Signature=\w+/, 'X-Amz-Signature=00'));
    try {
      await expectUnavailable(await fetch(blobUrl(blob), { headers: row.headers }), /403/);
    } finally {
      proxy.set(null);
    }

    expect(storageRequestsFor(blob).map((r) => r.status)).toEqual([403]);
    expect(tokens.slice(before).filter((request) => request.user !== null)).toEqual([]);
    await expectNothingCached(blob);
  });

  it('with its own Bearer challenge gets no credentials, from a Basic registry', async () => {
    const blob = basicImage.layers[0]!;
    const image = `${edge.url}/hash/${basicProxy.host}/${PRIVATE_REPO}:${TAG}`;
    // The registry's Basic challenge is now known, so the edge presents the credentials
    // to it before any 401, and the registry answers with its redirect at once.
    expect((await fetch(image, { headers: reader })).status).toBe(200);
    const before = storage.requests.length;
    const location = storage.challengeUrl(blob.digest);
    basicProxy.set({ kind: 'redirect', digest: blob.digest, location });
    let response: Response;
    try {
      const url = `${edge.url}/v2/${basicProxy.host}/${PRIVATE_REPO}/blobs/${blob.digest}`;
      response = await fetch(url, { headers: reader });
    } finally {
      basicProxy.set(null);
    }

    const reached = storage.requests.slice(before);
    expect(reached.filter((request) => request.authorization !== null)).toEqual([]);
    await expectUnavailable(response, /401/);
  });
});

describe('what the edge keeps', () => {
  it('holds no signed URL in its logs, KV or R2', async () => {
    const signatures = storage.signatures();
    expect(signatures.length).toBeGreaterThan(0);

    expect(await secretsKeptBy(edge, [...signatures, 'X-Amz-Signature'])).toEqual([]);
  });
});
