/**
 * `/image/<reference>`: a docker archive that skopeo reads back with the upstream's layers
 * (by diff_id), byte-for-byte the same on every download, even from an empty cache, with its
 * hash recorded for the lookup API.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type StartedEdge } from '../harness/edge';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import type { BuiltManifest } from '../harness/image-builder';
import { buildImage, buildLayer, type LayerBlob } from '../harness/image-builder';
import { blobFromBytes, sha256Digest } from '../harness/blob';
import { OCI } from '../harness/media-types';
import { pushImage } from '../harness/push-image';
import { nixBuild, nixExprFile } from '../harness/nix';
import { podmanUsable, preparePodman } from '../harness/podman';
import { startRegistry, type StartedRegistry } from '../harness/registry';
import { layerEntries, tarArchive } from '../harness/tar';
import { makeTempDir, removeTempDir } from '../harness/temp';
import { requireTool, runChecked } from '../harness/tools';

let registry: StartedRegistry;
let fixtures: StandardFixtures;
let edge: StartedEdge;
let scratch: string;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
  fixtures = await pushStandardFixtures(registry);
  edge = await startEdge({ registries: [`http://${registry.host}`] });
  scratch = await makeTempDir('image-test');
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await registry?.stop();
  await fixtures?.cleanup();
  await removeTempDir(scratch);
});

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Case {
  name: string;
  fixture: 'dockerV2' | 'oci' | 'list' | 'index';
  platform?: string;
  architecture: string;
}

const CASES: Case[] = [
  { name: 'Docker v2 image', fixture: 'dockerV2', architecture: 'amd64' },
  { name: 'OCI image', fixture: 'oci', architecture: 'amd64' },
  { name: 'Docker list amd64', fixture: 'list', architecture: 'amd64' },
  { name: 'Docker list arm64', fixture: 'list', platform: 'linux/arm64/v8', architecture: 'arm64' },
  { name: 'OCI index amd64', fixture: 'index', platform: 'x86_64-linux', architecture: 'amd64' },
  { name: 'OCI index arm64', fixture: 'index', platform: 'aarch64-linux', architecture: 'arm64' },
];

function manifestOf(c: Case): BuiltManifest {
  return fixtures[c.fixture].manifests.find((m) => m.platform.architecture === c.architecture)!;
}

/** The diff_ids the fixture's config lists. */
function diffIdsOf(manifest: BuiltManifest): string[] {
  const config = JSON.parse(Buffer.from(manifest.config.bytes!).toString('utf8')) as {
    rootfs: { diff_ids: string[] };
  };
  return config.rootfs.diff_ids;
}

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  expect(response.headers.get('Content-Length')).toBe(String(bytes.length));
  return bytes;
}

describe.each(CASES)('/image for $name', (c) => {
  it('redirects a tag to the digest-pinned URL, whose archive skopeo reads back', async () => {
    const manifest = manifestOf(c);
    const query = c.platform === undefined ? '' : `?platform=${c.platform}`;
    const repository = fixtures[c.fixture].repository;
    const tagged = `${edge.url}/image/${registry.host}/${repository}:1.0${query}`;

    const redirect = await fetch(tagged, { redirect: 'manual' });
    const pinned = `${edge.url}/image/${registry.host}/${repository}:1.0@${manifest.digest}`;
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('Location')).toBe(pinned);

    const archive = await download(pinned);
    const tar = join(scratch, `${c.fixture}-${c.architecture}.tar`);
    await writeFile(tar, archive);
    const layout = join(scratch, `${c.fixture}-${c.architecture}-oci`);
    await runChecked(requireTool('skopeo'), ['copy', `docker-archive:${tar}`, `oci:${layout}:x`]);

    // skopeo may compress the layers it writes; their uncompressed bytes are what count.
    const copied = await readOciLayers(layout);
    const layerDiffIds = [];
    for (const digest of copied.layers) {
      const bytes = await readFile(join(layout, 'blobs/sha256', digest.slice(7)));
      expect(sha256(bytes)).toBe(digest);
      layerDiffIds.push(sha256(isGzip(bytes) ? gunzipSync(bytes) : bytes));
    }
    expect(layerDiffIds).toEqual(diffIdsOf(manifest));
    expect(copied.config.rootfs.diff_ids).toEqual(diffIdsOf(manifest));
  });
});

const isGzip = (bytes: Buffer) => bytes[0] === 0x1f && bytes[1] === 0x8b;

/** The layer digests and config of the one image in an OCI layout that skopeo wrote. */
async function readOciLayers(layout: string) {
  const blob = async (digest: string) =>
    JSON.parse(await readFile(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8')) as never;
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const manifest = (await blob(index.manifests[0]!.digest)) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  const config = (await blob(manifest.config.digest)) as { rootfs: { diff_ids: string[] } };
  return { layers: manifest.layers.map((layer) => layer.digest), config };
}

it('gives the same bytes on every download, cold, warm and from an empty cache', async () => {
  const manifest = fixtures.dockerV2.manifests[0]!;
  const path = `/image/${registry.host}/${fixtures.dockerV2.repository}:1.0@${manifest.digest}`;
  const first = await download(`${edge.url}${path}`);
  const second = await download(`${edge.url}${path}`);
  expect(second.equals(first)).toBe(true);

  const hashUrl = `${edge.url}/hash/${registry.host}/${fixtures.dockerV2.repository}:1.0`;
  const recorded = (await (await fetch(hashUrl)).json()) as { image: Record<string, unknown> };
  expect(recorded.image).toMatchObject({
    url: `${edge.url}${path}`,
    known: true,
    digest: sha256(first),
    size: first.length,
  });

  const nixUrl = `${edge.url}/nix/${registry.host}/${fixtures.dockerV2.repository}:1.0`;
  const expression = await nixExprFile(await (await fetch(nixUrl)).text());
  const built = await nixBuild(expression, [
    '--arg',
    'fetchurl',
    'import <nix/fetchurl.nix>',
    '-A',
    'image',
  ]);
  expect(sha256(await readFile(built[0]!))).toBe(sha256(first));

  const fresh = await startEdge({ registries: [`http://${registry.host}`] });
  try {
    const before = await (
      await fetch(`${fresh.url}/nix/${registry.host}/${fixtures.dockerV2.repository}:1.0`)
    ).text();
    expect(before).not.toContain('image = ');
    expect(before).toContain(`# no image attribute yet: GET ${fresh.url}${path} once`);

    const lookup = await fetch(
      `${fresh.url}/hash/${registry.host}/${fixtures.dockerV2.repository}:1.0`,
    );
    const unknown = (await lookup.json()) as { image: { known: boolean; note: string } };
    expect(unknown.image.known).toBe(false);
    expect(unknown.image.note).toContain('GET ');

    const again = await download(`${fresh.url}${path}`);
    expect(sha256(again)).toBe(sha256(first));
  } finally {
    await fresh.stop({ keepState: false });
  }
});

/** A zstd layer, compressed by the zstd command as BuildKit would write it. */
async function zstdLayer(files: Record<string, string>): Promise<LayerBlob> {
  const tar = tarArchive(layerEntries(files));
  const out = join(scratch, 'layer.tar.zst');
  await runChecked(requireTool('zstd'), ['-q', '-f', '-19', '-o', out, '-'], { input: tar });
  const compressed = await readFile(out);
  const mediaType = OCI.layerGzip.replace('+gzip', '+zstd');
  return { ...blobFromBytes(compressed, mediaType), diffId: sha256Digest(tar) };
}

it('decompresses zstd layers next to gzip ones, checked against their diff_ids', async () => {
  const layers = [
    buildLayer({ 'etc/gzip-layer': `gzip ${fixtures.nonce}\n` }, 'oci'),
    await zstdLayer({ 'etc/zstd-layer': `zstd ${fixtures.nonce}\n`.repeat(1000) }),
  ];
  const image = buildImage({
    format: 'oci',
    platform: { os: 'linux', architecture: 'amd64' },
    layers,
  });
  await pushImage(registry, 'fixtures/zstd', image, '1.0');

  const url = `${edge.url}/image/${registry.host}/fixtures/zstd@${image.digest}`;
  const archive = await download(url);
  const tar = join(scratch, 'zstd.tar');
  await writeFile(tar, archive);
  const layout = join(scratch, 'zstd-oci');
  await runChecked(requireTool('skopeo'), ['copy', `docker-archive:${tar}`, `oci:${layout}:x`]);

  const copied = await readOciLayers(layout);
  expect(copied.config.rootfs.diff_ids).toEqual(layers.map((layer) => layer.diffId));
});

describe('podman load', async () => {
  const usable = await podmanUsable();
  const notRun = usable.ok ? '' : ` (not run: ${usable.reason})`;

  it.skipIf(!usable.ok)(`loads the archive with the upstream's layers${notRun}`, async () => {
    const manifest = fixtures.dockerV2.manifests[0]!;
    const repository = fixtures.dockerV2.repository;
    const archive = await download(
      `${edge.url}/image/${registry.host}/${repository}:1.0@${manifest.digest}`,
    );
    const tar = join(scratch, 'podman.tar');
    await writeFile(tar, archive);

    const podman = await preparePodman([]);
    try {
      const loaded = await podman.load(tar);
      expect(loaded.code, loaded.stderr).toBe(0);
      const name = `${registry.host}/${repository}:1.0`;
      const layers = JSON.parse(await podman.inspect(name, '{{json .RootFS.Layers}}')) as string[];
      expect(layers).toEqual(diffIdsOf(manifest));
    } finally {
      await podman.cleanup();
    }
  });
});
