/**
 * Which layer tars an archive holds, learned within one invocation's subrequest budget (see
 * budget.ts). An archive streams its layers after its status and length are sent, so the
 * route checks that the streams fit before it answers. A layer not yet known is learned
 * (fetched, cached, decompressed once) only while a layer's worth of subrequests remains.
 * When the budget runs out part-way the request ends with a 503 before any byte, and what was
 * learned stays in KV and R2, so a retry goes further. Once every layer is known and cached,
 * one KV record names them all and a warm archive costs a single KV read before its streams.
 */
import { z } from 'zod';
import { budgetTooSmall } from '../budget';
import type { Digest } from '../digest';
import type { Descriptor } from '../registry/manifest';
import type { Context, ResolvedImage } from '../resolve';
import { type DiffFacts, diffFactsSchema, knownDiffFacts, learnDiffFacts } from './layers';

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

// Streaming one cached layer reads its KV record, heads and gets it in R2 (blobs/pull.ts).
const SUBREQUESTS_PER_STREAMED_LAYER = 3;
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

  const remembered = await rememberedPlan(ctx, image.manifestDigest, wanted);
  if (remembered !== null) return { layers: remembered, streamingSubrequests, remembered: true };

  const layers: PlannedLayer[] = [];
  let allCached = true;
  for (const { layer, diffId } of wanted) {
    const known = await knownDiffFacts(ctx, layer, diffId);
    if (known !== null) {
      layers.push({ layer, facts: known });
      continue;
    }
    ctx.budget.require(SUBREQUESTS_PER_LEARNED_LAYER, `learning layer ${layer.digest}`);
    const learned = await learnDiffFacts(ctx, image.reference, layer, diffId);
    layers.push({ layer, facts: learned.facts });
    allCached &&= learned.cached;
  }

  if (allCached) await rememberPlan(ctx, image.manifestDigest, layers);
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

async function rememberedPlan(
  ctx: Context,
  manifestDigest: Digest,
  wanted: { layer: Descriptor; diffId: Digest }[],
): Promise<PlannedLayer[] | null> {
  const parsed = planSchema.safeParse(await ctx.store.record(planKey(manifestDigest)));
  if (!parsed.success || parsed.data.layers.length !== wanted.length) return null;

  const layers = parsed.data.layers;
  const matches = wanted.every(
    ({ layer, diffId }, i) =>
      layers[i]?.digest === layer.digest && layers[i].facts.diffId === diffId,
  );
  return matches ? wanted.map(({ layer }, i) => ({ layer, facts: layers[i]!.facts })) : null;
}

/**
 * Keeps the plan, so the next request reads one record instead of one per layer; only when
 * every layer is cached (a known layer is, see `knownDiffFacts`). The record saves work, the
 * archive does not need it.
 */
async function rememberPlan(
  ctx: Context,
  manifestDigest: Digest,
  layers: PlannedLayer[],
): Promise<void> {
  if (ctx.budget.remaining < 1) return;

  const record = layers.map(({ layer, facts }) => ({ digest: layer.digest, facts }));
  await ctx.store.putRecord(planKey(manifestDigest), { layers: record });
}
