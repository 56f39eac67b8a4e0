/**
 * docker2nix at the edge (issue 4, parts 2-4), against a real registry behind the counting
 * fault proxy: `format=fetchdocker` parses and evaluates with stub fetchers to the fixture's
 * names and Nix hashes; `POST /nix/...` of each fixture manifest answers exactly what the GET
 * for that digest answers, with no upstream request; `platform=all` has one entry per
 * platform, each equal to the single-platform expression; bad bodies are MANIFEST_INVALID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartedEdge } from '../harness/edge';
import type { FaultProxy } from '../harness/fault-proxy';
import type { StandardFixtures } from '../harness/fixtures';
import type { BuiltManifest } from '../harness/image-builder';
import { nixEnv, nixExprFile, nixHash32, nixInstantiateEval } from '../harness/nix';
import { type ProxiedStack, startProxiedStack } from '../harness/stack';
import { requireTool, runChecked } from '../harness/tools';

let proxy: FaultProxy;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let stack: ProxiedStack;

beforeAll(async () => {
  // docker.io is allowed only so that a Hub-style name can be posted: POST never sends a
  // request, and no test here GETs a docker.io name.
  stack = await startProxiedStack({ auth: 'none', moreRegistries: ['docker.io'] });
  ({ fixtures, proxy, edge } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

type FixtureName = 'dockerV2' | 'oci' | 'list' | 'index';
const STUBS = { fetchdocker: 'x: x', fetchDockerConfig: 'x: x', fetchDockerLayer: 'x: x' };

interface Answer {
  status: number;
  text: string;
}

async function get(path: string): Promise<Answer> {
  const response = await fetch(`${edge.url}${path}`);
  return { status: response.status, text: await response.text() };
}

/** POSTs `body` and checks that the edge sent no request upstream meanwhile. */
async function post(path: string, body: Uint8Array | string, type?: string): Promise<Answer> {
  const before = proxy.requests.length;
  const response = await fetch(`${edge.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers: type === undefined ? {} : { 'Content-Type': type },
  });
  const answer = { status: response.status, text: await response.text() };
  expect(proxy.requests.slice(before), `upstream requests during POST ${path}`).toEqual([]);
  return answer;
}

function errorCode(answer: Answer): string | undefined {
  return (JSON.parse(answer.text) as { errors: { code: string }[] }).errors[0]?.code;
}

async function nixParse(text: string): Promise<void> {
  const file = await nixExprFile(text);
  await runChecked(requireTool('nix-instantiate'), ['--parse', file], { env: nixEnv() });
}

/** The attribute set fetchdocker is called with, as stub fetchers return it. */
async function expectedFetchdocker(
  manifest: BuiltManifest,
  names: { registry: string; repository: string; imageName: string; tag: string },
  name = names.imageName,
) {
  const blobs = [manifest.config, ...manifest.layers];
  const hashes = await nixHash32(blobs.map((blob) => blob.digest.slice('sha256:'.length)));
  const { tag, ...common } = names;
  return {
    name,
    ...names,
    imageConfig: { ...common, tag, sha256: hashes[0] },
    imageLayers: manifest.layers.map((layer, i) => ({
      ...common,
      layerDigest: layer.digest.slice('sha256:'.length),
      sha256: hashes[i + 1],
    })),
  };
}

const repo = (fixture: FixtureName) => `${proxy.host}/${fixtures[fixture].repository}`;

describe('POST of an index before its platform manifests are held', () => {
  it('answers MANIFEST_UNKNOWN telling the caller to post the platform manifest', async () => {
    const index = fixtures.index.top;
    const answer = await post(`/nix/${repo('index')}:1.0?platform=aarch64-linux`, index.bytes!);

    expect(answer.status, answer.text).toBe(404);
    expect(errorCode(answer)).toBe('MANIFEST_UNKNOWN');
    const arm = fixtures.index.manifests.find((m) => m.platform.architecture === 'arm64')!;
    const pinned = `/nix/${repo('index')}@${arm.digest}`;
    expect(answer.text).toContain(`POST that platform's manifest to ${pinned} instead`);
  });

  it('answers the index once its platform manifest was fetched, as the message says', async () => {
    const index = fixtures.index.top;
    const arm = fixtures.index.manifests.find((m) => m.platform.architecture === 'arm64')!;
    const path = `/nix/${repo('index')}:1.0?platform=aarch64-linux`;
    expect((await get(`/nix/${repo('index')}@${arm.digest}`)).status).toBe(200);

    const answer = await post(path, index.bytes!);

    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toContain(arm.digest);
  });
});

describe('format=fetchdocker', () => {
  it.each(['dockerV2', 'oci'] as const)(
    'parses and evaluates to the fixture names and hashes: %s',
    async (fixture) => {
      const answer = await get(`/nix/${repo(fixture)}:1.0?format=fetchdocker`);
      expect(answer.status, answer.text).toBe(200);
      await nixParse(answer.text);

      const got = await nixInstantiateEval(answer.text, { args: STUBS });
      const imageName = fixtures[fixture].repository.split('/')[1]!;
      const names = { registry: `http://${proxy.host}/v2/`, repository: 'fixtures', imageName };
      const manifest = fixtures[fixture].manifests[0]!;
      expect(got).toEqual(await expectedFetchdocker(manifest, { ...names, tag: '1.0' }));
    },
  );

  it("takes altName as fetchdocker's name", async () => {
    const answer = await get(`/nix/${repo('oci')}:1.0?format=fetchdocker&altName=pinned-oci`);
    expect(answer.status, answer.text).toBe(200);

    const got = (await nixInstantiateEval(answer.text, { args: STUBS })) as { name: string };
    expect(got.name).toBe('pinned-oci');
  });

  it('writes a Docker Hub name without a slash as library/<name> on registry-1', async () => {
    const manifest = fixtures.dockerV2.manifests[0]!;
    const answer = await post('/nix/busybox:1.36?format=fetchdocker', manifest.bytes);
    expect(answer.status, answer.text).toBe(200);
    await nixParse(answer.text);

    const got = await nixInstantiateEval(answer.text, { args: STUBS });
    const names = {
      registry: 'https://registry-1.docker.io/v2/',
      repository: 'library',
      imageName: 'busybox',
      tag: '1.36',
    };
    expect(got).toEqual(await expectedFetchdocker(manifest, names));
  });

  it.each([
    { name: 'a multi-platform tag', path: () => `${repo('list')}:1.0?format=fetchdocker` },
    { name: 'platform=all', path: () => `${repo('oci')}:1.0?format=fetchdocker&platform=all` },
    { name: 'three components', path: () => `${proxy.host}/a/b/c:1?format=fetchdocker` },
    {
      name: 'a digest only',
      path: () => `${repo('oci')}@${fixtures.oci.top.digest}?format=fetchdocker`,
    },
    { name: 'a bad altName', path: () => `${repo('oci')}:1.0?format=fetchdocker&altName=.x` },
  ])('refuses $name with a 400 that says why', async ({ path }) => {
    const answer = await get(`/nix/${path()}`);

    expect(answer.status, answer.text).toBe(400);
    expect(['UNSUPPORTED', 'NAME_INVALID']).toContain(errorCode(answer));
  });
});

interface PostCase {
  name: string;
  fixture: FixtureName;
  manifest: () => BuiltManifest;
}

const POST_CASES: PostCase[] = [
  { name: 'Docker v2', fixture: 'dockerV2', manifest: () => fixtures.dockerV2.manifests[0]! },
  { name: 'OCI', fixture: 'oci', manifest: () => fixtures.oci.manifests[0]! },
  ...(['list', 'index'] as const).flatMap((fixture) =>
    ['amd64', 'arm64'].map((architecture) => ({
      name: `${fixture} ${architecture}`,
      fixture,
      manifest: () =>
        fixtures[fixture].manifests.find((m) => m.platform.architecture === architecture)!,
    })),
  ),
];

describe('POST /nix/<reference>', () => {
  const cases = POST_CASES.flatMap((c) =>
    (['fetchurl', 'fetchdocker'] as const).map((format) => ({ ...c, format })),
  );

  it.each(cases)(
    'answers what GET answers for that digest, with no upstream request: $name, $format',
    async ({ fixture, manifest, format }) => {
      const m = manifest();
      const path = `/nix/${repo(fixture)}:1.0@${m.digest}?format=${format}`;

      const posted = await post(path, m.bytes, m.mediaType);
      const got = await get(path);
      expect(posted.status, posted.text).toBe(200);
      expect(got.status, got.text).toBe(200);
      expect(posted.text).toBe(got.text);
    },
  );

  it('reads the type from the body when curl posts it as a form', async () => {
    const m = fixtures.dockerV2.manifests[0]!;
    const path = `/nix/${repo('dockerV2')}:1.0`;

    const posted = await post(path, m.bytes, 'application/x-www-form-urlencoded');
    expect(posted.status, posted.text).toBe(200);
    expect(posted.text).toBe((await get(path)).text);
  });

  it.each(['list', 'index'] as const)(
    'answers for an index body once its platform manifest is held: %s',
    async (fixture) => {
      const top = fixtures[fixture].top;
      const path = `/nix/${repo(fixture)}:1.0?platform=aarch64-linux`;
      const got = await get(path);

      const posted = await post(path, top.bytes!, top.mediaType);
      expect(posted.status, posted.text).toBe(200);
      expect(posted.text).toBe(got.text);
      const all = await post(`/nix/${repo(fixture)}:1.0?platform=all`, top.bytes!);
      expect(all.text).toBe((await get(`/nix/${repo(fixture)}:1.0?platform=all`)).text);
    },
  );

  it.each([
    { name: 'not JSON', body: 'FROM debian' },
    { name: 'a JSON array', body: '[]' },
    { name: 'an empty object', body: '{}' },
    {
      name: 'an image without a config digest',
      body: '{"schemaVersion":2,"config":{},"layers":[]}',
    },
    {
      name: 'an index entry with a bad digest',
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'x', digest: 'sha256:abc', size: 1 }],
      }),
    },
    { name: 'more than 4 MiB', body: `{"pad":"${'x'.repeat(4 * 1024 * 1024)}"}` },
  ])('answers 400 MANIFEST_INVALID saying why for $name', async ({ body }) => {
    const answer = await post(`/nix/${repo('oci')}:1.0`, body);

    expect(answer.status, answer.text).toBe(400);
    expect(errorCode(answer)).toBe('MANIFEST_INVALID');
    expect(JSON.parse(answer.text).errors[0].message).not.toBe('');
  });

  it('answers 400 DIGEST_INVALID for a body other than the digest it names', async () => {
    const other = fixtures.oci.manifests[0]!;
    const answer = await post(`/nix/${repo('oci')}@${fixtures.dockerV2.top.digest}`, other.bytes);

    expect(answer.status, answer.text).toBe(400);
    expect(errorCode(answer)).toBe('DIGEST_INVALID');
  });
});

describe('platform=all', () => {
  const evaluate = async (text: string) => nixInstantiateEval(text, { args: { fetchurl: 'x: x' } });

  it.each(['list', 'index'] as const)(
    'has one entry per platform, equal to the single-platform expression: %s',
    async (fixture) => {
      const all = await get(`/nix/${repo(fixture)}:1.0?platform=all`);
      expect(all.status, all.text).toBe(200);
      const got = (await evaluate(all.text)) as Record<string, unknown>;

      expect(Object.keys(got).sort()).toEqual(['aarch64-linux', 'x86_64-linux']);
      for (const system of Object.keys(got)) {
        const single = await get(`/nix/${repo(fixture)}:1.0?platform=${system}`);
        expect(got[system], system).toEqual(await evaluate(single.text));
      }
      const systemOf = { amd64: 'x86_64-linux', arm64: 'aarch64-linux' } as Record<string, string>;
      for (const manifest of fixtures[fixture].manifests) {
        const entry = got[systemOf[manifest.platform.architecture]!] as { manifestDigest: string };
        expect(entry.manifestDigest).toBe(manifest.digest);
      }
    },
  );

  it('keys a single-platform image by the platform its config names', async () => {
    const all = await get(`/nix/${repo('dockerV2')}:1.0?platform=all`);
    expect(all.status, all.text).toBe(200);

    const single = await get(`/nix/${repo('dockerV2')}:1.0`);
    expect(await evaluate(all.text)).toEqual({ 'x86_64-linux': await evaluate(single.text) });
  });
});
