/**
 * `/sha256/<hex>`, the hashed-mirror layout (issue 4, part 5), against a token registry:
 * Nix's builtin fetchurl, told `hashed-mirrors = <edge>/` and given a URL that cannot
 * answer, builds a blob the edge fetched anonymously (cached in R2 or not yet); a blob the
 * edge fetched with a reader's credentials is never served there, cached or not (C53), and
 * nothing unknown is answered with 200 (C49).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltBlob } from '../harness/blob';
import { startEdge, type StartedEdge } from '../harness/edge';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import { buildImage, buildLayer, type BuiltManifest } from '../harness/image-builder';
import { nixBuild, nixExprFile, nixHash32 } from '../harness/nix';
import { freePort } from '../harness/ports';
import { pushImage } from '../harness/push-image';
import { startRegistry, type StartedRegistry } from '../harness/registry';
import { basicAuthorization, READER } from '../harness/users';

const READER_AUTH = { Authorization: basicAuthorization(READER) };

let registry: StartedRegistry;
let fixtures: StandardFixtures;
let privateImage: BuiltManifest;
let edge: StartedEdge;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'token' });
  fixtures = await pushStandardFixtures(registry);
  // Anonymous callers may not pull private/ from the token registry; the reader may.
  const secret = { 'etc/secret': `${randomBytes(16).toString('hex')}\n` };
  privateImage = buildImage({
    format: 'docker',
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [buildLayer(secret, 'docker'), buildLayer({ 'etc/more': 'x\n', ...secret }, 'docker')],
  });
  await pushImage(registry, 'private/app', privateImage, '1.0');
  edge = await startEdge({ registries: [`http://${registry.host}`] });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await registry?.stop();
  await fixtures?.cleanup();
});

const hexOf = (blob: BuiltBlob) => blob.digest.slice('sha256:'.length);

/**
 * `nix-build` of `<nix/fetchurl.nix>` for `blob` whose own URL is a port nobody listens on,
 * with the edge as hashed mirror: only the mirror can make it succeed.
 */
async function buildThroughMirror(blob: BuiltBlob, name: string): Promise<string[]> {
  const [nix32] = await nixHash32([hexOf(blob)]);
  const nowhere = `http://127.0.0.1:${await freePort()}/${name}`;
  const file = await nixExprFile(
    `import <nix/fetchurl.nix> { name = "${name}"; url = "${nowhere}"; sha256 = "${nix32}"; }`,
  );
  return nixBuild(file, ['--option', 'hashed-mirrors', `${edge.url}/`]);
}

/** The statuses the edge logged for requests to `/sha256/<hex of blob>`. */
function mirrorLog(blob: BuiltBlob): number[] {
  const path = `"path":"/sha256/${hexOf(blob)}"`;
  return edge
    .output()
    .split('\n')
    .filter((line) => line.includes('"event":"request"') && line.includes(path))
    .map((line) => (JSON.parse(line.slice(line.indexOf('{'))) as { status: number }).status);
}

async function mirrorStatus(blob: BuiltBlob, headers: Record<string, string> = {}) {
  const response = await fetch(`${edge.url}/sha256/${hexOf(blob)}`, { headers });
  const body = await response.text();
  return { status: response.status, body };
}

describe('an anonymously fetched blob', () => {
  beforeAll(async () => {
    const response = await fetch(`${edge.url}/nix/${registry.host}/fixtures/oci:1.0`);
    expect(response.status, await response.text()).toBe(200);
  });

  it('builds through the hashed mirror before the edge has its bytes', async () => {
    const layer = fixtures.oci.manifests[0]!.layers[0]!;

    const [path] = await buildThroughMirror(layer, 'mirrored-layer.tar.gz');
    expect(Buffer.compare(await readFile(path!), Buffer.from(layer.bytes!))).toBe(0);
    expect(mirrorLog(layer), 'what the edge answered Nix').toEqual([200]);
  });

  it('builds through the hashed mirror from R2 once cached', async () => {
    const config = fixtures.oci.manifests[0]!.config;
    const url = `${edge.url}/v2/${registry.host}/fixtures/oci/blobs/${config.digest}`;
    await (await fetch(url)).arrayBuffer();

    const [path] = await buildThroughMirror(config, 'mirrored-config.json');
    expect(Buffer.compare(await readFile(path!), Buffer.from(config.bytes!))).toBe(0);
    expect(mirrorLog(config), 'what the edge answered Nix').toEqual([200]);
  });

  it('answers HEAD with the size and no body', async () => {
    const layer = fixtures.oci.manifests[0]!.layers[0]!;
    const response = await fetch(`${edge.url}/sha256/${hexOf(layer)}`, { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Length')).toBe(String(layer.size));
  });
});

describe('a blob fetched with credentials', () => {
  beforeAll(async () => {
    const url = `${edge.url}/nix/${registry.host}/private/app:1.0`;
    const response = await fetch(url, { headers: READER_AUTH });
    expect(response.status, await response.text()).toBe(200);
    // The first layer's bytes go to R2 too, fetched with the reader's credentials.
    const layer = privateImage.layers[0]!;
    const blobUrl = `${edge.url}/v2/${registry.host}/private/app/blobs/${layer.digest}`;
    const blob = await fetch(blobUrl, { headers: READER_AUTH });
    expect(blob.status).toBe(200);
    await blob.arrayBuffer();
  });

  it.each([
    { name: 'cached in R2', blob: () => privateImage.layers[0]! },
    { name: 'not cached', blob: () => privateImage.layers[1]! },
  ])('is 404 at the mirror, with or without credentials: $name', async ({ blob }) => {
    for (const headers of [{}, READER_AUTH]) {
      const answer = await mirrorStatus(blob(), headers);

      expect(answer.status, answer.body).toBe(404);
      expect(JSON.parse(answer.body).errors[0].code).toBe('BLOB_UNKNOWN');
    }
  });

  it('cannot be built through the hashed mirror', async () => {
    const layer = privateImage.layers[0]!;
    const before = mirrorLog(layer).length;

    await expect(buildThroughMirror(layer, 'private-layer.tar.gz')).rejects.toThrow();
    expect(mirrorLog(layer).slice(before), 'what the edge answered Nix').toEqual([404]);
  });
});

describe('what the mirror does not know', () => {
  it('answers 404 for a blob no manifest named, and 400 for what is not a sha256', async () => {
    const unknown = await fetch(`${edge.url}/sha256/${randomBytes(32).toString('hex')}`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('Content-Type')).toContain('application/json');

    const malformed = await fetch(`${edge.url}/sha256/not-a-hash`);
    expect(malformed.status).toBe(400);
  });
});
