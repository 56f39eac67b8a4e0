/**
 * Registry behaviour that container clients depend on: byte ranges (cached and not yet),
 * `Accept` negotiation in both header forms, short 429s retried, stale tags served while
 * upstream is down, schema 1 refused by name, and foreign layers pinned at their own URLs.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBytes, sha256Digest } from '../harness/blob';
import type { StartedEdge } from '../harness/edge';
import { ociErrorBody, type FaultProxy } from '../harness/fault-proxy';
import type { StandardFixtures } from '../harness/fixtures';
import { nixInstantiateEval, nixExprFile } from '../harness/nix';
import { type ProxiedStack, startProxiedStack } from '../harness/stack';

const TTL_SECONDS = 1;

let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let stack: ProxiedStack;

beforeAll(async () => {
  stack = await startProxiedStack({ auth: 'none', vars: { TAG_TTL_SECONDS: String(TTL_SECONDS) } });
  ({ fixtures, proxy, edge } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Range on blobs', () => {
  const cases = [
    { range: 'bytes=0-99', start: 0, end: 99 },
    { range: 'bytes=100-', start: 100, end: -1 },
    { range: 'bytes=-50', start: -50, end: -1 },
  ];

  it.each(['uncached', 'cached'])('answers 206 with the right bytes (%s)', async (state) => {
    // The busybox layer: a different blob per round, so "uncached" really is.
    const layers = fixtures.dockerV2.manifests[0]!.layers;
    const blob = [...layers].sort((a, b) => b.size - a.size)[state === 'uncached' ? 0 : 1]!;
    const url = `${edge.url}/v2/${proxy.host}/${fixtures.dockerV2.repository}/blobs/${blob.digest}`;
    if (state === 'cached') await (await fetch(url)).arrayBuffer();
    const whole = Buffer.from(blob.bytes!);

    for (const c of cases) {
      const start = c.start < 0 ? whole.length + c.start : c.start;
      const end = c.end < 0 ? whole.length - 1 : c.end;
      const response = await fetch(url, { headers: { Range: c.range } });
      const bytes = Buffer.from(await response.arrayBuffer());

      expect(response.status, c.range).toBe(206);
      expect(response.headers.get('Content-Range')).toBe(`bytes ${start}-${end}/${whole.length}`);
      expect(response.headers.get('Content-Length')).toBe(String(end - start + 1));
      expect(bytes.equals(whole.subarray(start, end + 1)), c.range).toBe(true);
    }
  });

  it('answers 416 with the size for a range past the end, cached or not', async () => {
    const blob = fixtures.oci.manifests[0]!.config;
    const url = `${edge.url}/v2/${proxy.host}/${fixtures.oci.repository}/blobs/${blob.digest}`;

    for (const round of ['uncached', 'cached']) {
      const response = await fetch(url, { headers: { Range: `bytes=${blob.size}-` } });
      const body = (await response.json()) as { errors: { code: string }[] };

      expect(response.status, round).toBe(416);
      expect(response.headers.get('Content-Range')).toBe(`bytes */${blob.size}`);
      expect(body.errors[0]!.code).toBe('RANGE_INVALID');
      await (await fetch(url)).arrayBuffer();
    }
  });
});

/** GET with each Accept value on a header line of its own, the way skopeo sends them. */
function getWithAcceptLines(
  url: string,
  accept: string[],
): Promise<{ status: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { Accept: accept } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '' }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Accept negotiation', () => {
  const dockerV2 = 'application/vnd.docker.distribution.manifest.v2+json';
  const ociIndex = 'application/vnd.oci.image.index.v1+json';
  const ociManifest = 'application/vnd.oci.image.manifest.v1+json';

  it('serves a type listed on separate lines, a comma-joined line, or */*', async () => {
    const url = `${edge.url}/v2/${proxy.host}/${fixtures.dockerV2.repository}/manifests/1.0`;

    const lines = await getWithAcceptLines(url, [ociManifest, dockerV2, ociIndex]);
    expect(lines).toEqual({ status: 200, type: dockerV2 });

    for (const accept of [`${ociManifest}, ${dockerV2};q=0.9`, '*/*', '']) {
      const response = await fetch(url, { headers: { Accept: accept } });
      expect(response.status, accept).toBe(200);
      expect(response.headers.get('Content-Type')).toBe(dockerV2);
    }
  });

  it('answers MANIFEST_UNKNOWN naming the type to a client that cannot read it', async () => {
    const url = `${edge.url}/v2/${proxy.host}/${fixtures.index.repository}/manifests/1.0`;
    const response = await fetch(url, { headers: { Accept: dockerV2 } });
    const body = (await response.json()) as { errors: { code: string; message: string }[] };

    expect(response.status).toBe(404);
    expect(body.errors[0]!.code).toBe('MANIFEST_UNKNOWN');
    expect(body.errors[0]!.message).toContain(ociIndex);
  });
});

describe('upstream trouble', () => {
  it('waits out a short 429 once and succeeds', async () => {
    const blob = fixtures.list.manifests[0]!.config;
    proxy.set({
      kind: 'status',
      status: 429,
      headers: { 'Retry-After': '1' },
      body: ociErrorBody('TOOMANYREQUESTS', 'slow down'),
      match: /\/blobs\//,
      times: 1,
    });
    const url = `${edge.url}/v2/${proxy.host}/${fixtures.list.repository}/blobs/${blob.digest}`;
    const response = await fetch(url);
    const bytes = Buffer.from(await response.arrayBuffer());

    expect(response.status).toBe(200);
    expect(bytes.equals(Buffer.from(blob.bytes!))).toBe(true);
  });

  it('serves a known tag stale, marked, while upstream fails; a digest never asks', async () => {
    const { repository, top } = fixtures.oci;
    const path = `${proxy.host}/${repository}:1.0`;
    expect((await fetch(`${edge.url}/hash/${path}`)).status).toBe(200);
    await sleep(TTL_SECONDS * 1000 + 200);

    for (const status of [503, 429, 500]) {
      proxy.set({ kind: 'status', status, body: ociErrorBody('UNAVAILABLE', 'down') });
      const hash = await fetch(`${edge.url}/hash/${path}`);
      const doc = (await hash.json()) as { manifestDigest: string; stale: boolean };
      const manifest = await fetch(`${edge.url}/v2/${proxy.host}/${repository}/manifests/1.0`);
      const nix = await (await fetch(`${edge.url}/nix/${path}`)).text();
      const before = proxy.requests.length;
      const byDigest = await fetch(`${edge.url}/nix/${proxy.host}/${repository}@${top.digest}`);
      const asked = proxy.requests.length - before;
      proxy.set(null);

      expect(byDigest.status).toBe(200);
      expect(asked).toBe(0);
      expect(hash.status, String(status)).toBe(200);
      expect(doc).toMatchObject({ manifestDigest: top.digest, stale: true });
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get('X-Hocker-Stale')).toMatch(
        /^upstream failed; tag last confirmed 20/,
      );
      expect(nix).toMatch(/^# served stale: the registry failed; the tag was last confirmed 20/m);
    }

    const healthy = (await (await fetch(`${edge.url}/hash/${path}`)).json()) as { stale: boolean };
    expect(healthy.stale).toBe(false);
  });

  it('does not hide a tag that upstream says is gone', async () => {
    const { repository } = fixtures.list;
    const path = `${proxy.host}/${repository}:1.0`;
    expect((await fetch(`${edge.url}/hash/${path}`)).status).toBe(200);
    await sleep(TTL_SECONDS * 1000 + 200);

    proxy.set({ kind: 'status', status: 404, body: ociErrorBody('MANIFEST_UNKNOWN', 'gone') });
    const response = await fetch(`${edge.url}/hash/${path}`);
    proxy.set(null);
    expect(response.status).toBe(404);
  });
});

describe('content kinds', () => {
  /** Serves `body` as the manifest of tag `odd` through the proxy. */
  function serveManifest(body: Uint8Array, contentType: string) {
    proxy.set({
      kind: 'status',
      status: 200,
      headers: { 'Content-Type': contentType, 'Docker-Content-Digest': sha256Digest(body) },
      body: Buffer.from(body).toString('utf8'),
      match: /\/manifests\/odd$/,
    });
  }

  it('refuses a schema 1 manifest with UNSUPPORTED naming its type', async () => {
    const type = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
    serveManifest(jsonBytes({ schemaVersion: 1, name: 'x/y', tag: 'odd', fsLayers: [] }), type);
    try {
      const response = await fetch(`${edge.url}/nix/${proxy.host}/fixtures/oci:odd`);
      const body = (await response.json()) as { errors: { code: string; message: string }[] };

      expect(response.status).toBe(415);
      expect(body.errors[0]!.code).toBe('UNSUPPORTED');
      expect(body.errors[0]!.message).toContain(type);
    } finally {
      proxy.set(null);
    }
  });

  it('names a registry that answers an HTML page for a manifest (C47)', async () => {
    const page = new TextEncoder().encode('<!doctype html><html><body>Welcome</body></html>');
    serveManifest(page, 'text/html; charset=utf-8');
    try {
      const response = await fetch(`${edge.url}/nix/${proxy.host}/fixtures/oci:odd`);
      const body = (await response.json()) as { errors: { code: string; message: string }[] };

      expect(response.status).toBe(502);
      expect(body.errors[0]!.code).toBe('UNAVAILABLE');
      expect(body.errors[0]!.message).toBe(
        `registry ${proxy.host} answered an HTML page (text/html) for manifest odd, ` +
          `not a manifest: is http://${proxy.host}/v2/ a registry?`,
      );
    } finally {
      proxy.set(null);
    }
  });

  it('hashes an artifact (a Helm chart) but will not pin it as an image', async () => {
    const config = fixtures.oci.manifests[0]!.config;
    const chart = jsonBytes({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.cncf.helm.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: [
        {
          mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
          digest: `sha256:${'cd'.repeat(32)}`,
          size: 10,
        },
      ],
    });
    serveManifest(chart, 'application/vnd.oci.image.manifest.v1+json');
    try {
      const nix = await fetch(`${edge.url}/nix/${proxy.host}/fixtures/oci:odd`);
      const body = (await nix.json()) as { errors: { code: string; message: string }[] };
      expect(nix.status).toBe(415);
      expect(body.errors[0]!.message).toContain('application/vnd.cncf.helm.config.v1+json');

      const hash = await fetch(`${edge.url}/hash/${proxy.host}/fixtures/oci:odd`);
      expect(hash.status).toBe(200);
      expect(await hash.json()).toMatchObject({
        layers: [{ digest: `sha256:${'cd'.repeat(32)}` }],
      });
    } finally {
      proxy.set(null);
    }
  });

  it('pins a foreign layer at the URLs its manifest names, with its digest', async () => {
    const image = fixtures.dockerV2.manifests[0]!;
    const foreignDigest = `sha256:${'ab'.repeat(32)}`;
    const foreignUrl = 'https://foreign.example.invalid/layer.tar.gz';
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: image.config.mediaType,
        digest: image.config.digest,
        size: image.config.size,
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
          digest: foreignDigest,
          size: 1234,
          urls: [foreignUrl, 'ftp://not-for-nix.invalid/x'],
        },
      ],
    });
    serveManifest(manifest, 'application/vnd.docker.distribution.manifest.v2+json');
    try {
      const text = await (
        await fetch(`${edge.url}/nix/${proxy.host}/fixtures/docker-v2:odd`)
      ).text();
      const file = await nixExprFile(text);
      const layers = await nixInstantiateEval(`(import ${file} { fetchurl = a: a; }).layers`);
      expect(layers).toEqual([expect.objectContaining({ url: foreignUrl })]);
      const hash = (await (await fetch(`${edge.url}/hash/${foreignDigest}`)).json()) as object;
      expect(hash).toMatchObject({ digest: foreignDigest, size: 1234 });
    } finally {
      proxy.set(null);
    }
  });
});

describe('what the README promises of odd requests', () => {
  it('refuses an ns= that is not a registry host, without asking upstream', async () => {
    const before = proxy.requests.length;
    for (const ns of [`${proxy.host}/evil`, '', `user@${proxy.host}`]) {
      const query = `ns=${encodeURIComponent(ns)}`;
      const response = await fetch(`${edge.url}/v2/fixtures/oci/manifests/1.0?${query}`);
      const body = (await response.json()) as { errors: { code: string }[] };
      expect(response.status, ns).toBe(400);
      expect(body.errors[0]!.code).toBe('NAME_INVALID');
    }
    expect(proxy.requests.length).toBe(before);
  });

  it('answers writes with 405 UNSUPPORTED: it is a read-only mirror', async () => {
    const base = `${edge.url}/v2/${proxy.host}/fixtures/oci`;
    for (const [method, path] of [
      ['POST', '/blobs/uploads/'],
      ['PUT', '/manifests/1.0'],
      ['DELETE', `/manifests/${fixtures.oci.top.digest}`],
    ] as const) {
      const response = await fetch(`${base}${path}`, { method });
      const body = (await response.json()) as { errors: { code: string; message: string }[] };
      expect(response.status, method).toBe(405);
      expect(body.errors[0]!.code).toBe('UNSUPPORTED');
      expect(body.errors[0]!.message).toContain('read-only');
    }
  });

  it('holds a single-platform image to the platform a caller names', async () => {
    const path = `${proxy.host}/${fixtures.oci.repository}:1.0`;
    const other = await fetch(`${edge.url}/nix/${path}?platform=aarch64-linux`);
    const body = (await other.json()) as { errors: { code: string; message: string }[] };
    expect(other.status).toBe(404);
    expect(body.errors[0]!.code).toBe('MANIFEST_UNKNOWN');
    expect(body.errors[0]!.message).toContain('it has: linux/amd64');

    const own = await fetch(`${edge.url}/nix/${path}?platform=x86_64-linux`);
    expect(own.status).toBe(200);
    expect(await own.text()).toMatch(/^# .* \(linux\/amd64\), from /);
  });

  it('rejects an empty Bearer and an unknown hash format, saying which', async () => {
    const bearer = await fetch(`${edge.url}/v2/`, { headers: { Authorization: 'Bearer' } });
    const bearerBody = (await bearer.json()) as { errors: { message: string }[] };
    expect(bearer.status).toBe(401);
    expect(bearerBody.errors[0]!.message).toContain('Bearer needs a token');

    const path = `${proxy.host}/${fixtures.oci.repository}:1.0`;
    const format = await fetch(`${edge.url}/hash/${path}?format=nix32`);
    expect(format.status).toBe(400);
    expect(await format.json()).toMatchObject({ errors: [{ code: 'UNSUPPORTED' }] });
  });
});
