/**
 * The OCI pull API: manifests and blobs exactly as upstream served them, with our own
 * verified headers, on GET and HEAD, by tag and by digest, in the registry-in-path form and
 * the mirror form (`?ns=`); and the token dance behind it, done once per scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartedEdge } from '../harness/edge';
import { ociErrorBody, type FaultProxy } from '../harness/fault-proxy';
import type { StandardFixtures } from '../harness/fixtures';
import { pushManifest } from '../harness/push';
import type { StartedRegistry } from '../harness/registry';
import { type ProxiedStack, startProxiedStack } from '../harness/stack';

let registry: StartedRegistry;
let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let stack: ProxiedStack;

beforeAll(async () => {
  stack = await startProxiedStack({ auth: 'token' });
  ({ registry, fixtures, proxy, edge } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const tokenRequests = () => registry.tokenServer!.requests;

describe('manifests', () => {
  const forms = () => {
    const { repository, top } = fixtures.index;
    return [
      ['by tag', `/v2/${proxy.host}/${repository}/manifests/1.0`],
      ['by digest', `/v2/${proxy.host}/${repository}/manifests/${top.digest}`],
      ['as a mirror with ?ns=', `/v2/${repository}/manifests/1.0?ns=${proxy.host}`],
      // containerd with a host path and no override_path, and Docker 25+ (C54).
      ['with the registry before /v2', `/${proxy.host}/v2/${repository}/manifests/1.0`],
    ] as const;
  };

  it('GET and HEAD answer upstream bytes with their type, length and digest', async () => {
    const { top } = fixtures.index;
    for (const [form, path] of forms()) {
      const get = await fetch(`${edge.url}${path}`);
      const bytes = Buffer.from(await get.arrayBuffer());
      expect(get.status, form).toBe(200);
      expect(bytes.equals(Buffer.from(top.bytes)), form).toBe(true);

      const head = await fetch(`${edge.url}${path}`, { method: 'HEAD' });
      expect(head.status, form).toBe(200);
      for (const response of [get, head]) {
        expect(response.headers.get('Content-Type'), form).toBe(top.mediaType);
        expect(response.headers.get('Content-Length'), form).toBe(String(top.size));
        expect(response.headers.get('Docker-Content-Digest'), form).toBe(top.digest);
      }
    }
  });
});

describe('path shapes (C54)', () => {
  it.each(['/v2', '/PREFIX/v2'])(
    'answers %s without a slash as the version check',
    async (base) => {
      const response = await fetch(`${edge.url}${base.replace('PREFIX', proxy.host)}`);

      expect(response.status).toBe(401);
      expect(response.headers.get('WWW-Authenticate')).toBe('Basic realm="hocker-edge"');
    },
  );

  it('answers the catalog before /v2 as at /v2/: not served', async () => {
    const response = await fetch(`${edge.url}/${proxy.host}/v2/_catalog`);
    const body = (await response.json()) as { errors: { code: string }[] };

    expect(response.status).toBe(404);
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
  });

  it('answers the version check before /v2 as at /v2/: a challenge, or {}', async () => {
    const bare = await fetch(`${edge.url}/${proxy.host}/v2/`);
    const withCredentials = await fetch(`${edge.url}/${proxy.host}/v2/`, {
      headers: { Authorization: 'Bearer anything' },
    });

    expect(bare.status).toBe(401);
    expect(bare.headers.get('WWW-Authenticate')).toBe('Basic realm="hocker-edge"');
    expect(withCredentials.status).toBe(200);
    expect(await withCredentials.json()).toEqual({});
  });

  it('refuses a doubled /v2 with the two shapes it takes, asking upstream nothing', async () => {
    const { repository } = fixtures.oci;
    const before = proxy.requests.length;
    for (const path of [
      `/v2/${proxy.host}/v2/${repository}/manifests/1.0`,
      `/${proxy.host}/v2/${proxy.host}/v2/${repository}/manifests/1.0`,
      `/v2/v2/${repository}/manifests/1.0?ns=${proxy.host}`,
    ]) {
      const response = await fetch(`${edge.url}${path}`);
      const body = (await response.json()) as { errors: { code: string; message: string }[] };

      expect(response.status, path).toBe(404);
      expect(body.errors[0]?.code, path).toBe('NAME_UNKNOWN');
      expect(body.errors[0]?.message, path).toMatch(/has \/v2 twice: a mirror URL names/);
      // The path quoted is the one the client sent, whichever shape it had.
      expect(body.errors[0]?.message, path).toContain(`'${path.split('?')[0]}'`);
    }
    expect(proxy.requests.length).toBe(before);
  });

  it('lists tags before /v2 under the name the client wrote', async () => {
    const { repository } = fixtures.oci;
    const response = await fetch(`${edge.url}/${proxy.host}/v2/${repository}/tags/list`);
    const body = (await response.json()) as { name: string; tags: string[] };

    expect(response.status).toBe(200);
    expect(body.name).toBe(repository);
    expect(body.tags).toContain('1.0');
  });
});

describe('blobs', () => {
  it('GET and HEAD answer the exact bytes with length and digest, cold and cached', async () => {
    const blob = fixtures.oci.manifests[0]!.layers[0]!;
    const path = `/v2/${proxy.host}/${fixtures.oci.repository}/blobs/${blob.digest}`;

    for (const round of ['cold', 'cached']) {
      const head = await fetch(`${edge.url}${path}`, { method: 'HEAD' });
      const get = await fetch(`${edge.url}${path}`);
      const bytes = Buffer.from(await get.arrayBuffer());

      expect(get.status, round).toBe(200);
      expect(bytes.equals(Buffer.from(blob.bytes!)), round).toBe(true);
      for (const response of [head, get]) {
        expect(response.status, round).toBe(200);
        expect(response.headers.get('Content-Length'), round).toBe(String(blob.size));
        expect(response.headers.get('Docker-Content-Digest'), round).toBe(blob.digest);
      }
    }
    const blobGets = proxy.requests.filter(
      (r) => r.method === 'GET' && r.path.includes(blob.digest),
    );
    expect(blobGets).toHaveLength(1);
  });

  it('HEAD of an uncached blob learns its size by GET where HEAD is refused (C46)', async () => {
    // No other test here touches the Docker v2 image's blobs: this one is not cached.
    const blob = fixtures.dockerV2.manifests[0]!.layers[0]!;
    const path = `/v2/${proxy.host}/${fixtures.dockerV2.repository}/blobs/${blob.digest}`;
    proxy.set({ kind: 'status', status: 405, match: /\/blobs\//, methods: ['HEAD'] });
    const before = proxy.requests.length;
    try {
      const head = await fetch(`${edge.url}${path}`, { method: 'HEAD' });
      const upstream = proxy.requests.slice(before).filter((r) => r.path.includes(blob.digest));

      expect(head.status).toBe(200);
      expect(head.headers.get('Content-Length')).toBe(String(blob.size));
      expect(head.headers.get('Docker-Content-Digest')).toBe(blob.digest);
      // The first GET goes without a token (this registry wants one for every repository).
      expect(upstream.map((r) => r.method)).toEqual(['HEAD', 'GET', 'GET']);
    } finally {
      proxy.set(null);
    }
  });
});

describe('upstream tokens', () => {
  it('asks the realm once per scope, anonymously, with the challenge service', async () => {
    const repository = fixtures.list.repository;
    const image = fixtures.list.manifests[0]!;
    const before = tokenRequests().length;

    expect((await fetch(`${edge.url}/hash/${proxy.host}/${repository}:1.0`)).status).toBe(200);
    for (const blob of [image.config, ...image.layers]) {
      const response = await fetch(
        `${edge.url}/v2/${proxy.host}/${repository}/blobs/${blob.digest}`,
      );
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }

    const made = tokenRequests().slice(before);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({
      scope: `repository:${repository}:pull`,
      service: registry.tokenServer!.service,
      user: null,
      status: 200,
    });
  });

  it('renews a token the registry stops accepting, once, and carries on', async () => {
    const repository = fixtures.list.repository;
    const blob = fixtures.list.manifests[1]!.layers[0]!;
    const server = registry.tokenServer!;
    const challenge =
      `Bearer realm="${server.realm}",service="${server.service}",` +
      `scope="repository:${repository}:pull",error="invalid_token"`;
    const before = tokenRequests().length;

    proxy.set({
      kind: 'status',
      status: 401,
      headers: { 'WWW-Authenticate': challenge },
      body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}',
      match: /\/blobs\//,
      times: 1,
    });
    const response = await fetch(`${edge.url}/v2/${proxy.host}/${repository}/blobs/${blob.digest}`);
    const bytes = Buffer.from(await response.arrayBuffer());

    expect(response.status).toBe(200);
    expect(bytes.equals(Buffer.from(blob.bytes!))).toBe(true);
    expect(tokenRequests().length - before).toBe(1);
  });
});

interface TroubleRow {
  name: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  want: { status: number; code: string; retryAfter: string | null };
}

describe('upstream trouble', () => {
  const ROWS: TroubleRow[] = [
    {
      name: '429 with Retry-After',
      status: 429,
      headers: { 'Retry-After': '30', 'RateLimit-Remaining': '0;w=21600' },
      body: ociErrorBody('TOOMANYREQUESTS', 'You have reached your pull rate limit'),
      want: { status: 429, code: 'TOOMANYREQUESTS', retryAfter: '30' },
    },
    {
      name: '503 with Retry-After',
      status: 503,
      headers: { 'Retry-After': '5' },
      body: 'maintenance',
      want: { status: 503, code: 'UNAVAILABLE', retryAfter: '5' },
    },
    {
      name: '500 with an HTML page',
      status: 500,
      headers: { 'Content-Type': 'text/html' },
      body: '<html>oops</html>',
      want: { status: 502, code: 'UNAVAILABLE', retryAfter: null },
    },
  ];

  it.each(ROWS)('an upstream $name is passed on as $want.code', async (row) => {
    const { repository } = fixtures.oci;
    proxy.set({ kind: 'status', status: row.status, headers: row.headers, body: row.body });
    try {
      const response = await fetch(`${edge.url}/hash/${proxy.host}/${repository}:no-such-tag`);
      const body = (await response.json()) as { errors: { code: string; message: string }[] };

      expect(response.status).toBe(row.want.status);
      expect(body.errors[0]!.code).toBe(row.want.code);
      expect(body.errors[0]!.message).toContain(proxy.host);
      expect(response.headers.get('Retry-After')).toBe(row.want.retryAfter);
      const quota = row.headers['RateLimit-Remaining'];
      if (quota !== undefined) {
        // The request's log line keeps the quota the registry reported (C33).
        expect(edge.output()).toContain(`"upstreamRateLimitRemaining":"${quota}"`);
      }
    } finally {
      proxy.set(null);
    }
  });
});

describe('tag lists', () => {
  it('lists the tags through both path forms', async () => {
    const { repository, top } = fixtures.oci;
    for (const tag of ['a', 'b']) {
      await pushManifest(registry, repository, tag, top.bytes, top.mediaType);
    }

    for (const path of [
      `/v2/${proxy.host}/${repository}/tags/list`,
      `/v2/${repository}/tags/list?ns=${proxy.host}`,
    ]) {
      const response = await fetch(`${edge.url}${path}`);
      const body = (await response.json()) as { name: string; tags: string[] };
      expect(response.status, path).toBe(200);
      expect(body.tags.sort()).toEqual(['1.0', 'a', 'b']);
    }
  });

  // distribution 2.8 does not page tag lists itself; a Quay-style page stands in for one.
  it('rewrites the next-page link to the edge, keeping an opaque page token', async () => {
    const { repository } = fixtures.oci;
    proxy.set({
      kind: 'status',
      status: 200,
      headers: {
        'Content-Type': 'application/json',
        Link: `</v2/${repository}/tags/list?n=2&next_page=gAAAAB0pq>; rel="next"`,
      },
      body: JSON.stringify({ name: repository, tags: ['a', 'b'] }),
      match: /\/tags\/list\?n=2$/,
      times: 1,
    });

    const first = await fetch(`${edge.url}/v2/${repository}/tags/list?ns=${proxy.host}&n=2`);
    expect(await first.json()).toEqual({ name: repository, tags: ['a', 'b'] });
    const ns = encodeURIComponent(proxy.host);
    const next = `/v2/${repository}/tags/list?n=2&next_page=gAAAAB0pq&ns=${ns}`;
    expect(first.headers.get('Link')).toBe(`<${next}>; rel="next"`);

    const second = await fetch(`${edge.url}${next}`);
    expect(second.status).toBe(200);
    expect(proxy.requests.at(-1)?.path).toBe(`/v2/${repository}/tags/list?n=2&next_page=gAAAAB0pq`);
  });
});
