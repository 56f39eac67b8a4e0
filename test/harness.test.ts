import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFromBytes } from './harness/blob';
import { parseChallenge } from './harness/challenge';
import { ociErrorBody, startFaultProxy, type FaultProxy } from './harness/fault-proxy';
import { pushStandardFixtures, type StandardFixtures } from './harness/fixtures';
import type { BuiltBlob, BuiltManifest } from './harness/image-builder';
import { decodeJwt } from './harness/jwt';
import { ALL_MANIFEST_TYPES, DOCKER, OCI } from './harness/media-types';
import { pushBlob } from './harness/push';
import { startRegistry, type StartedRegistry } from './harness/registry';
import { requireTool } from './harness/tools';
import { basicAuthorization, PUSHER, READER, type Credentials } from './harness/users';

const BIG = 4 * 1024 * 1024;

interface Setup {
  registry: StartedRegistry;
  fixtures: StandardFixtures;
}

const setups: Partial<Record<StartedRegistry['auth'], Setup>> = {};
let proxy: FaultProxy;
let tokenProxy: FaultProxy;

function setup(auth: StartedRegistry['auth']): Setup {
  const found = setups[auth];
  if (found === undefined) throw new Error(`no ${auth} registry: beforeAll failed`);

  return found;
}

beforeAll(async () => {
  const [none, token, htpasswd] = await Promise.all([
    startRegistry({ auth: 'none' }),
    startRegistry({ auth: 'token' }),
    startRegistry({ auth: 'htpasswd' }),
  ]);
  const bigLayerBytes = BIG;
  setups.none = { registry: none, fixtures: await pushStandardFixtures(none, { bigLayerBytes }) };
  setups.token = { registry: token, fixtures: await pushStandardFixtures(token) };
  setups.htpasswd = { registry: htpasswd, fixtures: await pushStandardFixtures(htpasswd) };
  proxy = await startFaultProxy(none.url);
  tokenProxy = await startFaultProxy(token.url);
});

afterAll(async () => {
  await proxy?.stop();
  await tokenProxy?.stop();
  for (const { registry, fixtures } of Object.values(setups)) {
    await fixtures.cleanup();
    await registry.stop();
  }
});

// The client side of the auth handshake, by hand: ask, read the challenge, then answer it
// with a token fetched from its realm (anonymously unless `creds`) or with Basic.
async function pull(url: string, repo: string, path: string, creds?: Credentials) {
  const target = `${url}/v2/${repo}/${path}`;
  const headers = { Accept: ALL_MANIFEST_TYPES.join(', ') };
  const first = await fetch(target, { headers });
  if (first.status !== 401) return first;

  await first.body?.cancel();
  const authorization = await answerChallenge(first, creds);

  return fetch(target, { headers: { ...headers, Authorization: authorization } });
}

async function answerChallenge(res: Response, creds?: Credentials): Promise<string> {
  const challenge = parseChallenge(res.headers.get('www-authenticate') ?? undefined);
  if (challenge?.scheme === 'basic') return basicAuthorization(creds ?? READER);

  const { realm = '', service = '', scope = '' } = challenge?.params ?? {};
  const token = await fetchToken(realm, { service, scope }, creds);

  return `Bearer ${token}`;
}

async function fetchToken(realm: string, query: Record<string, string>, creds?: Credentials) {
  const res = await fetch(`${realm}?${new URLSearchParams(query).toString()}`, {
    headers: creds === undefined ? {} : { Authorization: basicAuthorization(creds) },
  });
  expect(res.status, `token from ${realm}`).toBe(200);
  const json = (await res.json()) as { token: string; access_token: string; expires_in: number };
  expect(json.access_token).toBe(json.token);

  return json.token;
}

function textBlob(text: string): BuiltBlob {
  return blobFromBytes(Buffer.from(text, 'utf8'), 'application/octet-stream');
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// Hashes a body as it streams, so a 4 MiB (or 256 MiB) blob is never held whole.
async function hashBody(res: Response): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of chunksOf(res)) {
    hash.update(chunk);
    size += chunk.length;
  }

  return { digest: `sha256:${hash.digest('hex')}`, size };
}

// DOM's ReadableStream type has no async iterator, so read it by hand.
async function* chunksOf(res: Response): AsyncGenerator<Uint8Array> {
  const reader = res.body?.getReader();
  if (reader === undefined) return;

  for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);

  return `sha256:${hash.digest('hex')}`;
}

function everyManifest(fixtures: StandardFixtures): BuiltManifest[] {
  return fixtures.all.flatMap((image) => [...image.manifests, ...image.attestations]);
}

describe.each(['none', 'token', 'htpasswd'] as const)('a %s registry', (auth) => {
  it('answers each tag with the manifest bytes pushed, hashing to their digest', async () => {
    const { registry, fixtures } = setup(auth);
    for (const image of fixtures.all) {
      const res = await pull(registry.url, image.repository, `manifests/${image.tag}`);
      const bytes = new Uint8Array(await res.arrayBuffer());

      expect(res.status, `${image.repository}:${image.tag}`).toBe(200);
      expect(res.headers.get('content-type')).toBe(image.top.mediaType);
      expect(res.headers.get('docker-content-digest')).toBe(image.top.digest);
      expect(sha256(bytes)).toBe(image.top.digest);
      expect(Buffer.from(bytes).equals(Buffer.from(image.top.bytes))).toBe(true);
    }
  });

  it('answers every manifest, per platform and attestation too, by its digest', async () => {
    const { registry, fixtures } = setup(auth);
    for (const image of fixtures.all) {
      for (const manifest of [image.top, ...image.manifests, ...image.attestations]) {
        const res = await pull(registry.url, image.repository, `manifests/${manifest.digest}`);
        const bytes = new Uint8Array(await res.arrayBuffer());

        expect(res.status, `${image.repository}@${manifest.digest}`).toBe(200);
        expect(res.headers.get('content-type')).toBe(manifest.mediaType);
        expect(sha256(bytes)).toBe(manifest.digest);
      }
    }
  });

  it('answers every blob with the bytes pushed', async () => {
    const { registry, fixtures } = setup(auth);
    for (const image of fixtures.all) {
      for (const blob of image.blobs) {
        const res = await pull(registry.url, image.repository, `blobs/${blob.digest}`);
        const got = await hashBody(res);

        expect(res.status, `${image.repository} blob ${blob.digest}`).toBe(200);
        expect(got).toEqual({ digest: blob.digest, size: blob.size });
      }
    }
  });
});

describe('fixtures', () => {
  it('differ in every digest from one push to the next (per-run nonce)', () => {
    const digests = (f: StandardFixtures) => [
      ...f.all.map((image) => image.top.digest),
      ...everyManifest(f).flatMap((m) => [m.config.digest, ...m.layers.map((l) => l.digest)]),
    ];
    const first = new Set(digests(setup('token').fixtures));
    const shared = digests(setup('htpasswd').fixtures).filter((digest) => first.has(digest));

    expect(shared).toEqual([]);
  });

  it('hold the real busybox at bin/busybox, mode 0755, in docker-v2', async () => {
    const { fixtures } = setup('none');
    const layer = fixtures.dockerV2.manifests[0]?.layers[0];
    const tar = gunzipSync(layer?.bytes ?? new Uint8Array());
    const busybox = await fileDigest(requireTool('busybox'));
    const header = tar.subarray(tar.indexOf('bin/busybox'));
    const size = parseInt(header.subarray(124, 136).toString('ascii'), 8);

    expect(header.subarray(100, 107).toString('ascii')).toBe('0000755');
    expect(sha256(header.subarray(512, 512 + size))).toBe(busybox);
    expect(layer?.mediaType).toBe(DOCKER.layerGzip);
  });

  it('use the media types of their format and the platforms they claim', () => {
    const { fixtures } = setup('none');
    const platforms = (m: BuiltManifest[]) => m.map((x) => Object.values(x.platform).join('/'));

    expect(fixtures.dockerV2.top.mediaType).toBe(DOCKER.manifest);
    expect(fixtures.oci.top.mediaType).toBe(OCI.manifest);
    expect(fixtures.list.top.mediaType).toBe(DOCKER.list);
    expect(fixtures.index.top.mediaType).toBe(OCI.index);
    expect(platforms(fixtures.list.manifests)).toEqual(['amd64/linux', 'arm64/linux/v8']);
    expect(platforms(fixtures.index.attestations)).toEqual(['unknown/unknown', 'unknown/unknown']);
  });

  it('keep a big layer on disk, not in memory', async () => {
    const layer = setup('none').fixtures.big?.manifests[0]?.layers[0] as BuiltBlob;

    expect(layer.bytes).toBeUndefined();
    expect(layer.size).toBe(BIG);
    expect(await fileDigest(layer.path ?? '')).toBe(layer.digest);
  });
});

describe('distribution with every manifest type in Accept', () => {
  it.each(['list', 'index'] as const)('serves the %s by tag', async (name) => {
    const { registry, fixtures } = setup('none');
    const image = fixtures[name];
    const res = await fetch(`${registry.url}/v2/${image.repository}/manifests/1.0`, {
      headers: { Accept: ALL_MANIFEST_TYPES.join(', ') },
    });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(image.top.mediaType);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(image.top.digest);
  });

  it('answers 404 for an OCI index tag when Accept lists only Docker types', async () => {
    const { registry, fixtures } = setup('none');
    const res = await fetch(`${registry.url}/v2/${fixtures.index.repository}/manifests/1.0`, {
      headers: { Accept: `${DOCKER.manifest}, ${DOCKER.list}` },
    });
    await res.body?.cancel();

    expect(res.status).toBe(404);
  });
});

describe('the token server', () => {
  const tokens = () => {
    const server = setup('token').registry.tokenServer;
    if (server === undefined) throw new Error('token registry without token server');
    return server;
  };
  const grant = async (scope: string, creds?: Credentials) => {
    const token = await fetchToken(tokens().realm, { service: tokens().service, scope }, creds);
    return decodeJwt(token);
  };

  it('signs ES256 tokens that carry their certificate and the standard claims', async () => {
    const { header, claims } = await grant('repository:fixtures/oci:pull');

    expect(header).toMatchObject({ typ: 'JWT', alg: 'ES256' });
    expect(header.x5c).toHaveLength(1);
    expect(claims).toMatchObject({ iss: tokens().issuer, aud: tokens().service, sub: '' });
    // exp is backdated by distribution's 60 s leeway and rounded up a second; see token-server.ts.
    expect(Number(claims.exp) - Number(claims.iat)).toBe(300 - 60 + 1);
    expect(claims.access).toEqual([
      { type: 'repository', name: 'fixtures/oci', actions: ['pull'] },
    ]);
  });

  it('grants anonymous callers nothing under private/', async () => {
    const { claims } = await grant('repository:private/x:pull');

    expect(claims.access).toEqual([{ type: 'repository', name: 'private/x', actions: [] }]);
  });

  it('grants the reader pull under private/, and the pusher push', async () => {
    const reader = await grant('repository:private/x:pull,push', READER);
    const pusher = await grant('repository:private/x:pull,push', PUSHER);

    expect(reader.claims.access).toEqual([
      { type: 'repository', name: 'private/x', actions: ['pull'] },
    ]);
    expect(pusher.claims).toMatchObject({ sub: 'pusher' });
    expect(pusher.claims.access).toEqual([
      { type: 'repository', name: 'private/x', actions: ['pull', 'push'] },
    ]);
  });

  it('gets its anonymous private/ token refused by the registry, and the reader in', async () => {
    const { registry } = setup('token');
    const image = setup('token').fixtures.oci;
    await pushBlob(registry, 'private/x', image.manifests[0]?.config as BuiltBlob);
    const path = `blobs/${image.manifests[0]?.config.digest ?? ''}`;
    const anonymous = await pull(registry.url, 'private/x', path);
    const reader = await pull(registry.url, 'private/x', path, READER);
    await anonymous.body?.cancel();
    await reader.body?.cancel();

    expect(anonymous.status).toBe(401);
    expect(reader.status).toBe(200);
  });

  it('answers 401 to wrong credentials', async () => {
    const res = await fetch(`${tokens().realm}?scope=repository:fixtures/oci:pull`, {
      headers: { Authorization: basicAuthorization({ username: 'reader', password: 'nope' }) },
    });
    await res.body?.cancel();

    expect(res.status).toBe(401);
  });

  it.each(['', 'undefined', 'null', 'None'])('answers 400 to service=%j', async (service) => {
    const res = await fetch(`${tokens().realm}?service=${service}&scope=repository:a:pull`);
    await res.body?.cancel();

    expect(res.status).toBe(400);
  });

  it('has its tokens refused after their lifetime, and pushes then fetch new ones', async () => {
    const lifetimeSeconds = 2;
    const registry = await startRegistry({ auth: 'token', tokenLifetimeSeconds: lifetimeSeconds });
    try {
      const headers = { Authorization: await answerChallenge(await fetch(`${registry.url}/v2/`)) };
      const fresh = await fetch(`${registry.url}/v2/`, { headers });
      await pushBlob(registry, 'short/lived', textBlob('first'));
      // A token lives less than one second past its lifetime (see token-server.ts).
      await new Promise((resolve) => setTimeout(resolve, (lifetimeSeconds + 1.2) * 1000));
      const stale = await fetch(`${registry.url}/v2/`, { headers });
      await pushBlob(registry, 'short/lived', textBlob('second'));
      await Promise.all([fresh, stale].map((r) => r.body?.cancel()));

      expect([fresh.status, stale.status]).toEqual([200, 401]);
      expect(registry.tokenServer?.requests.map((r) => r.user)).toEqual([null, 'pusher', 'pusher']);
    } finally {
      await registry.stop();
    }
  });

  it('logs each request with its scope, service and user', async () => {
    const before = tokens().requests.length;
    await grant('repository:fixtures/list:pull', READER);

    expect(tokens().requests.slice(before)).toEqual([
      {
        scope: 'repository:fixtures/list:pull',
        service: tokens().service,
        user: 'reader',
        status: 200,
      },
    ]);
  });
});

describe('the fault proxy', () => {
  const bigLayer = () => setup('none').fixtures.big?.manifests[0]?.layers[0] as BuiltBlob;
  const blobUrl = (blob: BuiltBlob, repo = 'fixtures/big') =>
    `${proxy.url}/v2/${repo}/blobs/${blob.digest}`;

  it('relays manifests and blobs unchanged and counts the requests', async () => {
    const { fixtures } = setup('none');
    const before = proxy.requests.length;
    const manifest = await pull(proxy.url, 'fixtures/list', 'manifests/1.0');
    const blob = await hashBody(await fetch(blobUrl(bigLayer())));

    expect(sha256(new Uint8Array(await manifest.arrayBuffer()))).toBe(fixtures.list.top.digest);
    expect(blob).toEqual({ digest: bigLayer().digest, size: BIG });
    expect(proxy.requests.slice(before)).toEqual([
      { method: 'GET', path: '/v2/fixtures/list/manifests/1.0' },
      { method: 'GET', path: `/v2/fixtures/big/blobs/${bigLayer().digest}` },
    ]);
  });

  it('relays HEAD and Range requests', async () => {
    const layer = bigLayer();
    const head = await fetch(blobUrl(layer), { method: 'HEAD' });
    const range = await fetch(blobUrl(layer), { headers: { Range: 'bytes=10-19' } });
    const part = await hashBody(range);

    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG));
    expect(head.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 10-19/${BIG}`);
    expect(part.size).toBe(10);
  });

  it('rewrites upload Locations to itself, so pushes through it work', async () => {
    const target = { url: proxy.url, pushCredentials: PUSHER };
    const res = await fetch(`${proxy.url}/v2/proxied/blobs/uploads/`, { method: 'POST' });
    await res.body?.cancel();
    const uploads = `${proxy.url}/v2/proxied/blobs/uploads/`;

    expect(res.status).toBe(202);
    expect(res.headers.get('location')?.startsWith(uploads)).toBe(true);
    expect(await pushBlob(target, 'proxied', textBlob('through the proxy'))).toBe('pushed');
  });

  it('relays WWW-Authenticate untouched, so token pushes through it work', async () => {
    const token = setup('token').registry;
    const res = await fetch(`${tokenProxy.url}/v2/`);
    await res.body?.cancel();
    const target = { url: tokenProxy.url, pushCredentials: PUSHER };

    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(token.tokenServer?.realm);
    expect(await pushBlob(target, 'proxied', textBlob('token push via proxy'))).toBe('pushed');
  });

  it('flips exactly one byte of a blob and keeps its length', async () => {
    const { fixtures } = setup('none');
    const layer = fixtures.dockerV2.manifests[0]?.layers[0] as BuiltBlob;
    proxy.set({ kind: 'flip', digest: layer.digest });
    const res = await fetch(blobUrl(layer, 'fixtures/docker-v2'));
    const got = Buffer.from(await res.arrayBuffer());
    proxy.set(null);
    const want = Buffer.from(layer.bytes ?? []);
    const differing = [...got.keys()].filter((i) => got[i] !== want[i]);

    expect(res.headers.get('content-length')).toBe(String(layer.size));
    expect(got.length).toBe(want.length);
    expect(differing).toEqual([Math.floor(layer.size / 2)]);
  });

  it('cuts a blob after the bytes asked, and the client sees an error', async () => {
    proxy.set({ kind: 'cut', digest: bigLayer().digest, afterBytes: 1024 * 1024, times: 1 });
    const res = await fetch(blobUrl(bigLayer()));
    let received = 0;
    const read = (async () => {
      for await (const chunk of chunksOf(res)) received += chunk.length;
    })();

    await expect(read).rejects.toThrow();
    expect(res.headers.get('content-length')).toBe(String(BIG));
    expect(received).toBe(1024 * 1024);
    const healed = await hashBody(await fetch(blobUrl(bigLayer())));
    expect(healed).toEqual({ digest: bigLayer().digest, size: BIG });
  });

  it('answers a status fault for matching paths only, `times` times', async () => {
    const body = ociErrorBody('TOOMANYREQUESTS', 'slow down');
    const headers = { 'Retry-After': '1' };
    proxy.set({ kind: 'status', status: 429, headers, body, match: /manifests/, times: 1 });
    const ping = await fetch(`${proxy.url}/v2/`);
    const limited = await fetch(`${proxy.url}/v2/fixtures/oci/manifests/1.0`);
    const again = await pull(proxy.url, 'fixtures/oci', 'manifests/1.0');
    await Promise.all([ping, again].map((r) => r.body?.cancel()));

    expect(ping.status).toBe(200);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.json()).toEqual({
      errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down', detail: null }],
    });
    expect(again.status).toBe(200);
  });

  it('delays requests by the time asked', async () => {
    proxy.set({ kind: 'delay', ms: 300 });
    const started = Date.now();
    const res = await fetch(`${proxy.url}/v2/`);
    await res.body?.cancel();
    proxy.set(null);

    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});
