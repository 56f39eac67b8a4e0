import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BuiltBlob } from './blob';
import {
  buildImage,
  buildIndex,
  buildLayer,
  randomTarLayerFile,
  type BuiltIndex,
  type BuiltManifest,
  type ImageFormat,
  type LayerBlob,
  type Platform,
} from './image-builder';
import type { PushTarget } from './push';
import { pushImage, pushIndex } from './push-image';
import { makeTempDir, removeTempDir } from './temp';
import { requireTool } from './tools';

/** One pushed fixture: a repository and tag, and everything it is made of. */
export interface FixtureImage {
  repository: string;
  tag: string;
  /** What the tag resolves to: the manifest, or the list or index. */
  top: BuiltManifest | BuiltIndex;
  /** The platform manifests, each pushed by digest (one for a single-platform image). */
  manifests: BuiltManifest[];
  /** Attestation manifests an OCI index lists, each pushed by digest. */
  attestations: BuiltManifest[];
  /** Every config and layer blob of the manifests and attestations above. */
  blobs: BuiltBlob[];
}

/** Everything `pushStandardFixtures` pushed. */
export interface StandardFixtures {
  /** The per-run random nonce every fixture carries, which makes every digest new. */
  nonce: string;
  dockerV2: FixtureImage;
  oci: FixtureImage;
  list: FixtureImage;
  index: FixtureImage;
  /** Present only when `bigLayerBytes` was given. */
  big?: FixtureImage;
  all: FixtureImage[];
  /** The blob with `digest` in any fixture; throws when no fixture has it. */
  blob(digest: string): BuiltBlob;
  /** Removes files written for big layers. */
  cleanup(): Promise<void>;
}

/** Options for `pushStandardFixtures`. */
export interface FixtureOptions {
  /** Adds `fixtures/big:1.0`, one random uncompressed layer of about this many bytes. */
  bigLayerBytes?: number;
}

const TAG = '1.0';
const AMD64: Platform = { architecture: 'amd64', os: 'linux' };
const ARM64: Platform = { architecture: 'arm64', os: 'linux', variant: 'v8' };

/**
 * Builds and pushes the standard fixtures: `fixtures/docker-v2`, `fixtures/oci`,
 * `fixtures/list` (Docker list, amd64 + arm64/v8), `fixtures/index` (OCI index, the same plus
 * attestations) and, when asked, `fixtures/big`, all tagged `1.0`. Every layer carries a
 * nonce file, so no digest repeats across runs (a Nix store may hold earlier ones).
 */
export async function pushStandardFixtures(
  target: PushTarget,
  opts: FixtureOptions = {},
): Promise<StandardFixtures> {
  const nonce = randomBytes(16).toString('hex');
  const dockerV2 = await pushDockerV2(target, nonce);
  const oci = await pushSingle(target, 'fixtures/oci', 'oci', [
    buildLayer({ 'etc/motd': 'hocker-edge oci fixture\n', ...nonceFile(nonce, 'oci') }, 'oci'),
  ]);
  const list = await pushMulti(target, 'fixtures/list', nonce, 'docker');
  const index = await pushMulti(target, 'fixtures/index', nonce, 'oci');
  const bigDir = opts.bigLayerBytes === undefined ? undefined : await makeTempDir('fixtures');
  const cleanup = async () => (bigDir === undefined ? undefined : removeTempDir(bigDir));
  const big = await pushBig(target, opts.bigLayerBytes, bigDir).catch(async (err: unknown) => {
    await cleanup();
    throw err;
  });
  const all = [dockerV2, oci, list, index, ...(big === undefined ? [] : [big])];

  return { nonce, dockerV2, oci, list, index, big, all, blob: (d) => findBlob(all, d), cleanup };
}

// The real static busybox makes the image runnable, for tests that load it into a runtime.
async function pushDockerV2(target: PushTarget, nonce: string): Promise<FixtureImage> {
  const busybox = { data: await readFile(requireTool('busybox')), mode: 0o755 };
  const motd = 'hocker-edge docker-v2 fixture\n';
  const layers = [
    buildLayer({ 'bin/busybox': busybox, ...nonceFile(nonce, 'a') }, 'docker'),
    buildLayer({ 'etc/motd': motd, ...nonceFile(nonce, 'b') }, 'docker'),
  ];

  return pushSingle(target, 'fixtures/docker-v2', 'docker', layers, ['/bin/busybox', 'sh']);
}

function nonceFile(nonce: string, label: string): Record<string, string> {
  return { 'hocker-edge/nonce': `${nonce} ${label}\n` };
}

async function pushSingle(
  target: PushTarget,
  repository: string,
  format: ImageFormat,
  layers: LayerBlob[],
  cmd?: string[],
): Promise<FixtureImage> {
  const manifest = buildImage({ format, platform: AMD64, layers, ...(cmd ? { cmd } : {}) });
  await pushImage(target, repository, manifest, TAG);

  return fixtureOf(repository, manifest, [manifest], []);
}

// Each platform is a distinct image: its files name the platform, so digests differ.
async function pushMulti(
  target: PushTarget,
  repository: string,
  nonce: string,
  format: ImageFormat,
): Promise<FixtureImage> {
  const images = [AMD64, ARM64].map((platform) => {
    const name = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
    const files = { 'etc/platform': `${name}\n`, ...nonceFile(nonce, `${repository} ${name}`) };
    return buildImage({ format, platform, layers: [buildLayer(files, format)] });
  });
  const index = buildIndex(format, images, { attestations: format === 'oci' });
  await pushIndex(target, repository, index, TAG);

  return fixtureOf(repository, index, index.manifests, index.attestations);
}

// Random bytes are the nonce here: the one layer is new on every run.
async function pushBig(
  target: PushTarget,
  bytes: number | undefined,
  dir: string | undefined,
): Promise<FixtureImage | undefined> {
  if (bytes === undefined || dir === undefined) return undefined;

  const layer = await randomTarLayerFile(bytes, 'hocker-edge/random.bin', dir);
  const manifest = buildImage({ format: 'oci', platform: AMD64, layers: [layer] });
  await pushImage(target, 'fixtures/big', manifest, TAG);

  return fixtureOf('fixtures/big', manifest, [manifest], []);
}

function fixtureOf(
  repository: string,
  top: BuiltManifest | BuiltIndex,
  manifests: BuiltManifest[],
  attestations: BuiltManifest[],
): FixtureImage {
  const blobs = [...manifests, ...attestations].flatMap((m) => [m.config, ...m.layers]);

  return { repository, tag: TAG, top, manifests, attestations, blobs };
}

function findBlob(images: FixtureImage[], digest: string): BuiltBlob {
  const blob = images.flatMap((image) => image.blobs).find((b) => b.digest === digest);
  if (blob === undefined) throw new Error(`no fixture blob ${digest}`);

  return blob;
}
