/**
 * The benchmark's blob: one random, uncompressed layer of the requested size in a
 * single-layer OCI image, pushed to a harness registry and also kept on disk for uploads.
 */
import type { BuiltBlob } from '../test/harness/blob';
import { buildImage, randomTarLayerFile } from '../test/harness/image-builder';
import { pushImage } from '../test/harness/push-image';
import type { StartedRegistry } from '../test/harness/registry';

/** The pushed image and its one layer (whose `path` holds the layer's bytes). */
export interface BenchImage {
  repository: string;
  tag: string;
  layer: BuiltBlob & { path: string };
}

const REPOSITORY = 'bench/blob';
const TAG = 'latest';

/** Writes a random layer of about `bytes` into `dir` and pushes it as `bench/blob:latest`. */
export async function pushBenchImage(
  registry: StartedRegistry,
  bytes: number,
  dir: string,
): Promise<BenchImage> {
  const layer = await randomTarLayerFile(bytes, 'bench/random.bin', dir);
  if (layer.path === undefined) throw new Error('randomTarLayerFile wrote no file');

  const platform = { architecture: 'amd64', os: 'linux' };
  const manifest = buildImage({ format: 'oci', platform, layers: [layer] });
  await pushImage(registry, REPOSITORY, manifest, TAG);
  const { diffId: _, ...blob } = layer;

  return { repository: REPOSITORY, tag: TAG, layer: { ...blob, path: layer.path } };
}
