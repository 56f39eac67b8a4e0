/**
 * Every bad input and every missing thing gets its OCI error code, status and a message that
 * says what is wrong, as JSON; never a 500, and never a request to a registry not allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type StartedEdge } from '../harness/edge';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import { startRegistry, type StartedRegistry } from '../harness/registry';

let registry: StartedRegistry;
let fixtures: StandardFixtures;
let outsider: FaultProxy;
let edge: StartedEdge;

const ZERO = `sha256:${'0'.repeat(64)}`;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
  fixtures = await pushStandardFixtures(registry);
  // A second registry address the edge is not configured for; it counts any request.
  outsider = await startFaultProxy(registry.url);
  edge = await startEdge({ registries: [`http://${registry.host}`] });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await outsider?.stop();
  await registry?.stop();
  await fixtures?.cleanup();
});

interface Row {
  name: string;
  path: () => string;
  status: number;
  code: string;
  message: RegExp;
}

const host = () => registry.host;

const ROWS: Row[] = [
  {
    name: 'an upper-case repository',
    path: () => `/nix/${host()}/Fixtures/OCI:1.0`,
    status: 400,
    code: 'NAME_INVALID',
    message: /lowercase/,
  },
  {
    name: 'a tag with a space and quote',
    path: () => `/nix/${host()}/fixtures/oci:1.0%20%22x`,
    status: 400,
    code: 'NAME_INVALID',
    message: /whitespace/,
  },
  {
    name: 'a newline smuggled into a reference',
    path: () => `/hash/${host()}/fixtures/oci%0A:1.0`,
    status: 400,
    code: 'NAME_INVALID',
    message: /./,
  },
  {
    name: 'broken percent-encoding',
    path: () => `/nix/${host()}/fixtures/oci%E0%A4%A`,
    status: 400,
    code: 'NAME_INVALID',
    message: /percent-encoding/,
  },
  {
    name: 'platform=all where one platform is wanted',
    path: () => `/hash/${host()}/fixtures/oci:1.0?platform=all`,
    status: 400,
    code: 'UNSUPPORTED',
    message: /^platform=all is for \/nix .*here name one platform/,
  },
  {
    name: 'the catalog',
    path: () => '/v2/_catalog',
    status: 404,
    code: 'UNSUPPORTED',
    message: /lists no catalog/,
  },
  {
    name: 'an upload session',
    path: () => `/v2/${host()}/fixtures/oci/blobs/uploads/`,
    status: 405,
    code: 'UNSUPPORTED',
    message: /read-only mirror/,
  },
  {
    name: 'the referrers API',
    path: () => `/v2/${host()}/fixtures/oci/referrers/sha256:${'0'.repeat(64)}`,
    status: 404,
    code: 'UNSUPPORTED',
    message: /referrers API/,
  },
  {
    name: 'an empty reference',
    path: () => '/nix/',
    status: 400,
    code: 'NAME_INVALID',
    message: /empty/,
  },
  {
    name: 'a malformed blob digest',
    path: () => `/v2/${host()}/fixtures/oci/blobs/sha256:xyz`,
    status: 400,
    code: 'DIGEST_INVALID',
    message: /sha256:<64 lowercase hex>/,
  },
  {
    name: 'an unknown tag',
    path: () => `/nix/${host()}/fixtures/oci:no-such-tag`,
    status: 404,
    code: 'MANIFEST_UNKNOWN',
    message: /no-such-tag/,
  },
  {
    // distribution says MANIFEST_UNKNOWN here (Docker Hub would say 401); the edge keeps
    // upstream's own not-found code.
    name: 'an unknown repository',
    path: () => `/hash/${host()}/fixtures/never-pushed:1.0`,
    status: 404,
    code: 'MANIFEST_UNKNOWN',
    message: /never-pushed|1\.0/,
  },
  {
    name: 'an unknown manifest digest',
    path: () => `/nix/${host()}/fixtures/oci@${ZERO}`,
    status: 404,
    code: 'MANIFEST_UNKNOWN',
    message: /0000/,
  },
  {
    name: 'an unknown blob',
    path: () => `/v2/${host()}/fixtures/oci/blobs/${ZERO}`,
    status: 404,
    code: 'BLOB_UNKNOWN',
    message: /0000/,
  },
  {
    name: 'a blob no manifest has named',
    path: () => `/hash/${ZERO}`,
    status: 404,
    code: 'BLOB_UNKNOWN',
    message: /not appeared in any manifest/,
  },
  {
    name: 'a platform the image lacks',
    path: () => `/nix/${host()}/fixtures/list:1.0?platform=linux/s390x`,
    status: 404,
    code: 'MANIFEST_UNKNOWN',
    message: /linux\/s390x .*linux\/amd64, linux\/arm64\/v8/,
  },
  {
    name: 'a platform name nobody uses',
    path: () => `/nix/${host()}/fixtures/list:1.0?platform=plan9-x`,
    status: 400,
    code: 'UNSUPPORTED',
    message: /plan9-x/,
  },
  {
    name: 'an unknown output format',
    path: () => `/nix/${host()}/fixtures/oci:1.0?format=xml`,
    status: 400,
    code: 'UNSUPPORTED',
    message: /format=xml/,
  },
  {
    name: 'an unknown hash format',
    path: () => `/hash/${fixtures.oci.manifests[0]!.config.digest}?format=hex`,
    status: 400,
    code: 'UNSUPPORTED',
    message: /format=hex/,
  },
  {
    name: 'a route that does not exist',
    path: () => '/tarballs/x',
    status: 404,
    code: 'NAME_UNKNOWN',
    message: /no such route/,
  },
];

describe('error answers', () => {
  it.each(ROWS)('$name -> $status $code', async (row) => {
    const response = await fetch(`${edge.url}${row.path()}`);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };

    expect(response.status, JSON.stringify(body)).toBe(row.status);
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]!.code).toBe(row.code);
    expect(body.errors[0]!.message).toMatch(row.message);
  });

  it('lists the platforms an image has when the asked one is missing', async () => {
    const response = await fetch(
      `${edge.url}/hash/${host()}/fixtures/index:1.0?platform=i686-linux`,
    );
    const body = (await response.json()) as { errors: { detail: { platforms: string[] } }[] };

    expect(response.status).toBe(404);
    expect(body.errors[0]!.detail.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it('refuses a registry outside REGISTRIES without sending it anything', async () => {
    const response = await fetch(`${edge.url}/nix/${outsider.host}/fixtures/oci:1.0`);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };

    expect(response.status).toBe(403);
    expect(body.errors[0]).toMatchObject({
      code: 'DENIED',
      message: `registry '${outsider.host}' is not allowed by this edge`,
    });
    const blob = await fetch(`${edge.url}/v2/${outsider.host}/fixtures/oci/blobs/${ZERO}`);
    expect(blob.status).toBe(403);
    expect(outsider.requests).toEqual([]);
  });
});

describe('HEAD', () => {
  const paths = () => {
    const image = fixtures.oci.manifests[0]!;
    const name = `${host()}/${fixtures.oci.repository}`;
    return [
      '/',
      `/nix/${name}:1.0`,
      `/hash/${name}:1.0`,
      `/hash/${image.config.digest}`,
      `/image/${name}:1.0@${image.digest}`,
      `/v2/${name}/manifests/1.0`,
      `/v2/${name}/blobs/${image.config.digest}`,
      `/sha256/${image.config.digest.slice('sha256:'.length)}`,
      `/nix/${name}:no-such-tag`,
      '/no/such/route',
    ];
  };

  it('answers every route as GET does, with its length and without a body (C57)', async () => {
    for (const path of paths()) {
      const get = await fetch(`${edge.url}${path}`);
      const getBody = Buffer.from(await get.arrayBuffer());
      const head = await fetch(`${edge.url}${path}`, { method: 'HEAD' });
      const headBody = Buffer.from(await head.arrayBuffer());

      expect(head.status, path).toBe(get.status);
      expect(head.headers.get('Content-Type'), path).toBe(get.headers.get('Content-Type'));
      expect(headBody.length, path).toBe(0);
      expect(getBody.length, path).toBeGreaterThan(0);
      expect(head.headers.get('Content-Length'), path).toBe(String(getBody.length));
    }
  });
});
