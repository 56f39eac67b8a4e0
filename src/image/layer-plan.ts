/**
 * Which layer tars an archive holds, learned within one invocation's subrequest budget (see
 * budget.ts). An archive streams its layers after its status and length are sent, so the
 * route checks that the streams fit before it answers. A layer not yet known is learned
 * (fetched, cached, decompressed once) only while a layer's worth of subrequests remains.
 * When the budget runs out part-way the request ends with a 503 before any byte, and what was
 * learned stays in KV and R2, so a retry goes further. One KV record per archive holds the
 * layers known so far; once it names them all, a warm archive costs a single KV read before
 * its streams, which read each layer from R2 once.
 */
import { z } from 'zod';
import { budgetTooSmall } from '../budget';
import type { Digest } from '../digest';
import type { Descriptor } from '../registry/manifest';
import type { Context, ResolvedImage } from '../resolve';
import {
  type DiffFacts,
  diffFactsSchema,
  forgetDiffFacts,
  knownDiffFacts,
  learnDiffFacts,
} from './layers';

/** One distinct layer of an archive and what its uncompressed tar is. */
export interface PlannedLayer {
  layer: Descriptor;
  facts: DiffFacts;
}

/** The layers to write, and the subrequests that writing them will take. */
export interface LayerPlan {
  layers: PlannedLayer[];
  streamingSubrequests: number;
  /** True when KV already held the whole plan: a retry would learn nothing new. */
  remembered: boolean;
}

// Streaming one planned layer is one R2 read (layers.ts, `openPlannedLayerTar`).
const SUBREQUESTS_PER_STREAMED_LAYER = 1;
// What a warm archive costs before its layers: the manifest from R2 and the check of its
// blob records (resolve.ts), the config's KV record, R2 head and get, and this plan's record.
const SUBREQUESTS_BEFORE_LAYERS = 6;
// A caller with credentials may be reading bytes fetched with them, and each such blob (the
// manifest, the config, every layer) is checked with the registry before it is served: a
// HEAD as the caller, at worst after a 401 and a token request (blobs/pull.ts, resolve.ts).
const SUBREQUESTS_PER_ACCESS_CHECK = 3;
// The KV write of the archive's fingerprint once it has streamed whole (fingerprint.ts).
const SUBREQUESTS_AFTER_STREAMING = 1;
// What learning one uncached layer usually costs: its KV record and R2 head, a token, the GET,
// the R2 write and the KV facts. One that takes more (redirects, a retried 429) is stopped by
// the budget itself, still before the first byte, and what it cached is kept.
const SUBREQUESTS_PER_LEARNED_LAYER = 6;

const planSchema = z.object({
  layers: z.array(z.object({ digest: z.string(), facts: diffFactsSchema })),
});

const planKey = (manifestDigest: Digest) => `archive/${manifestDigest}`;

/**
 * Plans the layers of `image`, whose config lists `diffIds`. Throws a 503 when even a warm
 * archive would not fit in one invocation, or when this one ran out before learning every
 * layer (with `Retry-After`: the next one starts where this one stopped).
 */
export async function planLayers(
  ctx: Context,
  image: ResolvedImage,
  diffIds: Digest[],
): Promise<LayerPlan> {
  const wanted = distinctLayers(image.layers, diffIds);
  const checks = ctx.credentials === undefined ? 0 : SUBREQUESTS_PER_ACCESS_CHECK;
  const perLayer = SUBREQUESTS_PER_STREAMED_LAYER + checks;
  const streamingSubrequests = wanted.length * perLayer + SUBREQUESTS_AFTER_STREAMING;
  const warm = SUBREQUESTS_BEFORE_LAYERS + 2 * checks + streamingSubrequests;
  if (warm > ctx.budget.limit) {
    throw budgetTooSmall(ctx.budget.limit, warm, `an archive of ${wanted.length} layers`);
  }

  const record = await rememberedFacts(ctx, image.manifestDigest);
  const fromRecord = (layer: Descriptor, diffId: Digest) => {
    const facts = record.get(layer.digest);
    return facts?.diffId === diffId ? facts : null;
  };
  if (wanted.every(({ layer, diffId }) => fromRecord(layer, diffId) !== null)) {
    const layers = wanted.map(({ layer, diffId }) => ({
      layer,
      facts: fromRecord(layer, diffId)!,
    }));
    return { layers, streamingSubrequests, remembered: true };
  }

  // Every layer known here is cached; the record keeps them for the next request, even when
  // this one stops part-way, so no request reads the same facts one by one again.
  const known = new Map<Digest, DiffFacts>();
  const layers: PlannedLayer[] = [];
  try {
    for (const { layer, diffId } of wanted) {
      const facts = fromRecord(layer, diffId) ?? (await knownDiffFacts(ctx, layer, diffId));
      if (facts !== null) {
        known.set(layer.digest, facts);
        layers.push({ layer, facts });
        continue;
      }
      // One more for the record, written whatever happens next.
      ctx.budget.require(SUBREQUESTS_PER_LEARNED_LAYER + 1, `learning layer ${layer.digest}`);
      const learned = await learnDiffFacts(ctx, image.reference, layer, diffId);
      if (learned.cached) known.set(layer.digest, learned.facts);
      layers.push({ layer, facts: learned.facts });
    }
  } finally {
    if (known.size > record.size) await rememberFacts(ctx, image.manifestDigest, known);
  }
  return { layers, streamingSubrequests, remembered: false };
}

/** Each layer once, with the diff_id its position in the config gives it. */
function distinctLayers(layers: Descriptor[], diffIds: Digest[]) {
  const seen = new Set<Digest>();
  return layers.flatMap((layer, index) => {
    if (seen.has(layer.digest)) return [];
    seen.add(layer.digest);
    return [{ layer, diffId: diffIds[index]! }];
  });
}

/** The facts the archive's record holds, by layer digest: all of them, or those known so far. */
async function rememberedFacts(
  ctx: Context,
  manifestDigest: Digest,
): Promise<Map<string, DiffFacts>> {
  const parsed = planSchema.safeParse(await ctx.store.record(planKey(manifestDigest)));
  const layers = parsed.success ? parsed.data.layers : [];
  return new Map(layers.map(({ digest, facts }) => [digest, facts]));
}

/** Keeps what is known of the archive's layers (all of them cached), if a write remains. */
async function rememberFacts(
  ctx: Context,
  manifestDigest: Digest,
  known: Map<Digest, DiffFacts>,
): Promise<void> {
  if (ctx.budget.remaining < 1) return;

  const layers = [...known].map(([digest, facts]) => ({ digest, facts }));
  await ctx.store.putRecord(planKey(manifestDigest), { layers });
}

/**
 * Forgets that `layer` is cached, for the archive and for every plan to come: its bytes were
 * found gone or changed at rest, and the next request must learn it again before answering.
 */
export async function forgetPlannedLayer(
  ctx: Context,
  manifestDigest: Digest,
  layer: Descriptor,
): Promise<void> {
  await Promise.all([ctx.store.deleteRecord(planKey(manifestDigest)), forgetDiffFacts(ctx, layer)]);
}
