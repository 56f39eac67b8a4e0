/**
 * Docker archives (what `docker load` and `podman load` read, and what hocker-image wrote):
 * the config as `<config hex>.json`, each layer uncompressed as `<diff_id hex>.tar`, then
 * `manifest.json` and `repositories`. Every byte is fixed by the manifest digest and the tag
 * label (entry order, names, times, owners, modes), so the archive's Nix hash never changes.
 * It is streamed; only the config and the two small JSON files are held in memory.
 */
import { z } from 'zod';
import { openBlob } from '../blobs/pull';
import { type Digest, digestHex, isDigest } from '../digest';
import { fail } from '../errors';
import { logEvent } from '../log';
import { type Descriptor, requireImageConfig } from '../registry/manifest';
import type { Context, ResolvedImage } from '../resolve';
import { layerFileName, openPlannedLayerTar } from './layers';
import { forgetPlannedLayer, planLayers } from './layer-plan';
import { END_OF_ARCHIVE, entrySize, fileHeader, padding } from './tar';

/** One file of the archive: small bytes in memory, or a layer streamed when written. */
type Entry =
  | { name: string; size: number; bytes: Uint8Array }
  | { name: string; size: number; layer: Descriptor };

/** Everything needed to write an archive, and its exact size. */
export interface ArchivePlan {
  image: ResolvedImage;
  entries: Entry[];
  size: number;
  /** What writing it will cost, to be set aside before answering (see budget.ts). */
  streamingSubrequests: number;
  /** True when nothing was left to learn: a retry would cost what this request did. */
  remembered: boolean;
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const configSchema = z.object({
  rootfs: z.object({
    type: z.literal('layers'),
    diff_ids: z.array(z.string().refine(isDigest, 'not a sha256 digest')),
  }),
});

/** The digest-pinned URL of an image's archive, keeping the tag as its label. */
export function imageUrl(
  origin: string,
  image: Pick<ResolvedImage, 'reference' | 'manifestDigest'>,
): string {
  const { registry, repository, tag } = image.reference;
  const label = tag === null ? '' : `:${tag}`;
  return `${origin}/image/${registry}/${repository}${label}@${image.manifestDigest}`;
}

/**
 * Plans the archive of `image`: reads its config, and learns each layer's uncompressed size
 * (checking its diff_id) within the invocation's budget (layer-plan.ts). Throws before any
 * byte is answered when the image cannot be one, or when this invocation cannot plan it.
 */
export async function planArchive(ctx: Context, image: ResolvedImage): Promise<ArchivePlan> {
  requireImageConfig(image.manifestDigest, image.config);

  const configBytes = await readConfig(ctx, image);
  const diffIds = parseDiffIds(configBytes, image);
  const { layers, streamingSubrequests, remembered } = await planLayers(ctx, image, diffIds);
  const entries: Entry[] = [
    {
      name: `${digestHex(image.config.digest)}.json`,
      size: configBytes.byteLength,
      bytes: configBytes,
    },
  ];

  const written = new Set<string>();
  for (const { layer, facts } of layers) {
    const name = layerFileName(facts.diffId);
    // Two layers may unpack to the same tar; the archive holds its file once.
    if (!written.has(name)) entries.push({ name, size: facts.size, layer });
    written.add(name);
  }

  for (const [name, value] of metadataFiles(image, diffIds)) {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    entries.push({ name, size: bytes.byteLength, bytes });
  }

  const size = entries.reduce(
    (sum, entry) => sum + entrySize(entry.size),
    END_OF_ARCHIVE.byteLength,
  );
  return { image, entries, size, streamingSubrequests, remembered };
}

/** `manifest.json` and `repositories`, as docker save writes them. */
function metadataFiles(image: ResolvedImage, diffIds: Digest[]): [string, unknown][] {
  const { registry, repository, tag } = image.reference;
  const name = `${registry}/${repository}`;
  const layers = diffIds.map(layerFileName);
  const manifest = [
    {
      Config: `${digestHex(image.config.digest)}.json`,
      RepoTags: tag === null ? [] : [`${name}:${tag}`],
      Layers: layers,
    },
  ];
  const lastLayer = diffIds.at(-1);
  const repositories =
    tag === null || lastLayer === undefined ? {} : { [name]: { [tag]: digestHex(lastLayer) } };
  return [
    ['manifest.json', manifest],
    ['repositories', repositories],
  ];
}

/** The archive's bytes, written entry by entry as the caller reads. */
export function archiveStream(ctx: Context, plan: ArchivePlan): ReadableStream<Uint8Array> {
  const chunks = archiveChunks(ctx, plan);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

async function* archiveChunks(ctx: Context, plan: ArchivePlan): AsyncGenerator<Uint8Array> {
  for (const entry of plan.entries) {
    yield fileHeader(entry.name, entry.size);
    if ('bytes' in entry) {
      yield entry.bytes;
    } else {
      yield* layerChunks(ctx, plan.image, entry.layer, entry.size);
    }
    const pad = padding(entry.size);
    if (pad.byteLength > 0) yield pad;
  }
  yield END_OF_ARCHIVE;
}

async function* layerChunks(
  ctx: Context,
  image: ResolvedImage,
  layer: Descriptor,
  size: number,
): AsyncGenerator<Uint8Array> {
  const forget = () => {
    const forgotten = forgetPlannedLayer(ctx, image.manifestDigest, layer).catch((error: unknown) =>
      logEvent('warn', 'plan-not-forgotten', { reason: String(error) }),
    );
    ctx.waitUntil(forgotten);
  };
  const tar = await openPlannedLayerTar(ctx, image.reference, layer, forget);
  const reader = tar.getReader();
  let written = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      written += value.byteLength;
      if (written > size) break;
      if (value.byteLength > 0) yield value;
    }
  } finally {
    reader.releaseLock();
  }
  if (written !== size) {
    throw fail.unavailable(`layer ${layer.digest} decompressed to ${written} bytes, not ${size}`);
  }
}

async function readConfig(ctx: Context, image: ResolvedImage): Promise<Uint8Array> {
  if (image.config.size > MAX_CONFIG_BYTES) {
    throw fail.manifestInvalid(`config ${image.config.digest} is larger than ${MAX_CONFIG_BYTES}`);
  }
  const blob = await openBlob(ctx, image.reference, image.config.digest, {
    withBody: true,
    range: null,
  });
  return new Uint8Array(await new Response(blob.body).arrayBuffer());
}

function parseDiffIds(bytes: Uint8Array, image: ResolvedImage): Digest[] {
  let parsed: z.infer<typeof configSchema>;
  try {
    parsed = configSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
  } catch {
    throw fail.manifestInvalid(`config ${image.config.digest} has no valid rootfs.diff_ids`);
  }

  const diffIds = parsed.rootfs.diff_ids as Digest[];
  if (diffIds.length !== image.layers.length) {
    throw fail.manifestInvalid(
      `config ${image.config.digest} lists ${diffIds.length} diff_ids ` +
        `for ${image.layers.length} layers`,
    );
  }
  return diffIds;
}
