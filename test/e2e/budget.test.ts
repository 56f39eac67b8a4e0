/**
 * The subrequest budget (case C55). Workers cap the subrequests of one invocation, and a
 * cold image archive makes several per layer. Under a small cap the edge must answer a whole
 * archive or refuse before its first byte (503, JSON, `Retry-After`), keep what it learned so
 * that retries finish the job, and say plainly when no retry can help. workerd enforces no cap
 * locally, so the edge's own count is what holds it; a count that went wrong would show here
 * as an archive cut part-way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loggedEvents, startEdge, type StartedEdge } from '../harness/edge';
import {
  buildImage,
  buildIndex,
  buildLayer,
  type BuiltIndex,
  type BuiltManifest,
} from '../harness/image-builder';
import { nixHash32, nixPrefetchUrl } from '../harness/nix';
import { pushImage, pushIndex } from '../harness/push-image';
import { basicAuthorization, READER } from '../harness/users';
import { startRegistry, type StartedRegistry } from '../harness/registry';

const MANY = 10;
// A warm archive needs 6 subrequests before its layers, 1 per layer and 1 after them: the cap
// is exactly what EXACT layers need, so a stream that spent one more than it set aside would
// be cut, and show.
const EXACT = 30;
const LIMIT = 6 + EXACT + 1;
// More layers than the cap can record in KV in one request, let alone archive.
const TOO_MANY = EXACT + 1;

let registry: StartedRegistry;
let capped: StartedEdge;
let ample: StartedEdge;
let many: BuiltManifest;
let exact: BuiltManifest;
let tooMany: BuiltManifest;
let forNix: BuiltManifest;
let privateMany: BuiltManifest;
let least: StartedEdge;
let untrusting: StartedEdge;
let wide: BuiltIndex;
let one: BuiltManifest;

beforeAll(async () => {
  // Token auth: every cold request also pays for its token.
  registry = await startRegistry({ auth: 'token' });
  many = buildTestImage(MANY);
  exact = buildTestImage(EXACT);
  await pushImage(registry, 'budget/exact', exact, '1.0');
  tooMany = buildTestImage(TOO_MANY);
  await pushImage(registry, 'budget/many', many, '1.0');
  await pushImage(registry, 'budget/too-many', tooMany, '1.0');
  forNix = buildTestImage(MANY);
  await pushImage(registry, 'budget/nix', forNix, '1.0');
  privateMany = buildTestImage(MANY);
  await pushImage(registry, 'private/many', privateMany, '1.0');
  one = buildTestImage(1);
  await pushImage(registry, 'budget/one', one, '1.0');
  wide = buildIndex('oci', WIDE_PLATFORMS.map(buildPlatformImage));
  await pushIndex(registry, 'budget/wide', wide, '1.0');

  const registries = [`http://${registry.host}`];
  [capped, ample, least, untrusting] = await Promise.all([
    startEdge({ registries, vars: { SUBREQUEST_LIMIT: String(LIMIT) } }),
    startEdge({ registries }),
    // The least SUBREQUEST_LIMIT the edge accepts.
    startEdge({ registries, vars: { SUBREQUEST_LIMIT: '20' } }),
    // Every request revalidates its tag, and so rewrites the tag's record: no progress.
    startEdge({ registries, vars: { SUBREQUEST_LIMIT: '20', TAG_TTL_SECONDS: '0' } }),
  ]);
});

afterAll(async () => {
  await capped?.stop({ keepState: false });
  await ample?.stop({ keepState: false });
  await least?.stop({ keepState: false });
  await untrusting?.stop({ keepState: false });
  await registry?.stop();
});

function buildTestImage(layers: number): BuiltManifest {
  const built = Array.from({ length: layers }, (_, i) =>
    buildLayer({ [`data/${i}`]: randomBytes(8 * 1024) }, 'oci'),
  );
  return buildImage({
    format: 'oci',
    platform: { architecture: 'amd64', os: 'linux' },
    layers: built,
  });
}

// More platforms than one invocation at the least limit can pin at once, even warm.
const WIDE_PLATFORMS = ['amd64', 'arm64', 'ppc64le', 's390x', 'riscv64', '386', 'mips64le'];

function buildPlatformImage(architecture: string): BuiltManifest {
  const layer = buildLayer({ [`arch/${architecture}`]: randomBytes(1024) }, 'oci');
  return buildImage({ format: 'oci', platform: { architecture, os: 'linux' }, layers: [layer] });
}

function imageUrl(edge: StartedEdge, repository: string, image: BuiltManifest): string {
  return `${edge.url}/image/${registry.host}/${repository}@${image.digest}`;
}

interface ErrorBody {
  errors: { code: string; message: string; detail?: { subrequestLimit?: number } }[];
}

/** The `subrequests` of each request log line the edge wrote for `path`. */
function subrequestsLogged(edge: StartedEdge, path: string): number[] {
  return loggedEvents(edge, 'request')
    .filter((line) => line.path === path)
    .map((line) => (line.subrequests as number | undefined) ?? -1);
}

it('answers a cold archive whole after retries, each refusal a 503 before any byte', async () => {
  const url = imageUrl(capped, 'budget/many', many);
  const refusals: { status: number; retryAfter: string | null; body: ErrorBody }[] = [];
  let archive: Buffer | null = null;

  for (let attempt = 0; attempt < 12 && archive === null; attempt++) {
    const response = await fetch(url);
    if (response.status === 200) {
      // A stream cut part-way rejects here, and the test fails.
      archive = Buffer.from(await response.arrayBuffer());
      expect(archive.byteLength).toBe(Number(response.headers.get('Content-Length')));
    } else {
      const body = (await response.json()) as ErrorBody;
      refusals.push({
        status: response.status,
        retryAfter: response.headers.get('Retry-After'),
        body,
      });
    }
  }

  // The cap did bite, every refusal was the clean one, and the retries got through within
  // the 5 tries Nix makes of a download by default (download-attempts).
  expect(refusals.length).toBeGreaterThan(0);
  expect(refusals.length).toBeLessThan(5);
  for (const refusal of refusals) {
    expect(refusal.status).toBe(503);
    expect(refusal.retryAfter).toBe('1');
    expect(refusal.body.errors[0]?.code).toBe('UNAVAILABLE');
    expect(refusal.body.errors[0]?.message).toMatch(
      new RegExp(`${LIMIT} subrequests .*SUBREQUEST_LIMIT.*retry`),
    );
    expect(refusal.body.errors[0]?.detail).toEqual({ subrequestLimit: LIMIT });
  }
  expect(archive).not.toBeNull();

  // The same bytes as an edge without a tight cap makes in one go.
  const reference = await fetch(imageUrl(ample, 'budget/many', many));
  expect(reference.status).toBe(200);
  const expected = Buffer.from(await reference.arrayBuffer());
  expect(sha256(archive!)).toBe(sha256(expected));

  const path = new URL(url).pathname;
  expect(subrequestsLogged(capped, path)).toHaveLength(refusals.length + 1);
});

it('serves a warm archive for one KV read before its streams, as it planned', async () => {
  const url = imageUrl(capped, 'budget/exact', exact);
  const path = new URL(url).pathname;
  const coldBefore = streamedEvents(capped).length;
  const cold = await retryWhileAsked(url, 20);
  expect(cold.at(-1)?.status).toBe(200);
  // The cold download's own event lands after its last byte: wait for it before counting.
  await expect.poll(() => streamedEvents(capped).length).toBe(coldBefore + 1);
  const before = subrequestsLogged(capped, path).length;
  const streamedBefore = streamedEvents(capped).length;

  const response = await fetch(url);
  const archive = Buffer.from(await response.arrayBuffer());

  expect(response.status).toBe(200);
  expect(archive.byteLength).toBe(Number(response.headers.get('Content-Length')));
  // The manifest and its records, the config's record, head and get, and the plan.
  expect(subrequestsLogged(capped, path).slice(before)).toEqual([6]);
  // Then one R2 read per layer, and the KV write of the archive's fingerprint: the cap.
  await expect
    .poll(() => streamedEvents(capped).slice(streamedBefore))
    .toEqual([{ event: 'image-streamed', subrequests: LIMIT, planned: LIMIT }]);
});

/** A status, and the `Retry-After` that came with it. */
interface Answer {
  status: number;
  retryAfter: string | null;
}

/** GETs `url` as a client that honours 503 + Retry-After would, at most `tries` times. */
async function retryWhileAsked(url: string, tries: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let attempt = 0; attempt < tries; attempt++) {
    const response = await fetch(url);
    await response.arrayBuffer();
    answers.push({ status: response.status, retryAfter: response.headers.get('Retry-After') });
    if (response.status !== 503 || response.headers.get('Retry-After') === null) break;
  }
  return answers;
}

interface StreamedEvent {
  subrequests: number;
  planned: number;
}

function streamedEvents(edge: StartedEdge): unknown[] {
  return loggedEvents(edge, 'image-streamed');
}

it('says, without Retry-After, when even a warm archive cannot fit the cap', async () => {
  const response = await fetch(imageUrl(capped, 'budget/too-many', tooMany));
  const body = (await response.json()) as ErrorBody;

  expect(response.status).toBe(503);
  expect(response.headers.get('Retry-After')).toBeNull();
  expect(body.errors[0]?.code).toBe('UNAVAILABLE');
  expect(body.errors[0]?.message).toBe(
    `an archive of ${TOO_MANY} layers needs at least ${6 + TOO_MANY + 1} subrequests in ` +
      `one invocation, more than SUBREQUEST_LIMIT=${LIMIT}; raise it (and [limits] ` +
      'subrequests) if your plan allows',
  );
});

it('pins an image too large to archive or even record under the cap', async () => {
  const path = `${registry.host}/budget/too-many:1.0`;
  const hash = await fetch(`${capped.url}/hash/${path}`);
  const body = (await hash.json()) as { manifestDigest: string; layers: { digest: string }[] };
  const nix = await fetch(`${capped.url}/nix/${path}`);
  const text = await nix.text();

  expect(hash.status).toBe(200);
  expect(body.manifestDigest).toBe(tooMany.digest);
  expect(body.layers.map((layer) => layer.digest)).toEqual(tooMany.layers.map((l) => l.digest));
  expect(nix.status).toBe(200);
  for (const layer of tooMany.layers) expect(text).toContain(layer.digest);
  // The blob records it had no room for are skipped, and it says so.
  expect(capped.output()).toContain(`"event":"blob-records-skipped","blobs":${TOO_MANY + 1}`);
});

it('never asks for retries that cannot help, even at the least limit it takes', async () => {
  const url = imageUrl(least, 'budget/one', one);
  const answers = await retryWhileAsked(url, 8);

  expect(answers.at(-1)).toEqual({ status: 200, retryAfter: null });
  expect(answers.slice(0, -1).every((a) => a.status === 503 && a.retryAfter === '1')).toBe(true);
});

it('does not count a tag refreshed on every request as progress to retry for', async () => {
  const url = `${untrusting.url}/nix/${registry.host}/budget/wide:1.0?platform=all`;
  const answers = await retryWhileAsked(url, 20);

  // Retries are asked for while platform manifests and their blob records are still being
  // stored, a few a try; once a try only refreshes the tag, the refusal says no retry helps.
  const last = answers.at(-1)!;
  expect(last).toEqual({ status: 503, retryAfter: null });
  expect(answers.length).toBeLessThanOrEqual(2 * WIDE_PLATFORMS.length + 2);
});

it('plans a private archive with an access check per blob, and says it cannot fit', async () => {
  // Bytes fetched with credentials are checked with the registry, as the caller, each time
  // they are served: every blob may cost 3 subrequests more, and at this cap they cannot fit.
  const url = imageUrl(capped, 'private/many', privateMany);
  const response = await fetch(url, { headers: { Authorization: basicAuthorization(READER) } });
  const body = (await response.json()) as ErrorBody;

  expect(response.status).toBe(503);
  expect(response.headers.get('Retry-After')).toBeNull();
  expect(body.errors[0]?.message).toBe(
    `an archive of ${MANY} layers needs at least ${6 + 2 * 3 + (1 + 3) * MANY + 1} ` +
      `subrequests in one invocation, more than SUBREQUEST_LIMIT=${LIMIT}; raise it (and ` +
      '[limits] subrequests) if your plan allows',
  );
});

it('streams a private archive to its reader within what it planned', async () => {
  const url = imageUrl(ample, 'private/many', privateMany);
  const refused = await fetch(url);
  await refused.arrayBuffer();
  const before = streamedEvents(ample).length;
  const headers = { Authorization: basicAuthorization(READER) };

  const cold = await fetch(url, { headers });
  const coldBytes = Buffer.from(await cold.arrayBuffer());
  const warm = await fetch(url, { headers });
  const warmBytes = Buffer.from(await warm.arrayBuffer());

  expect(refused.status).toBe(401);
  expect([cold.status, warm.status]).toEqual([200, 200]);
  expect(sha256(warmBytes)).toBe(sha256(coldBytes));
  await expect.poll(() => streamedEvents(ample).length).toBe(before + 2);
  for (const event of streamedEvents(ample).slice(before) as StreamedEvent[]) {
    expect(event.subrequests).toBeLessThanOrEqual(event.planned);
  }
});

it('is fetched by nix-prefetch-url cold, which retries the refusals itself', async () => {
  const url = imageUrl(capped, 'budget/nix', forNix);
  const path = new URL(url).pathname;

  const hash = await nixPrefetchUrl(url, 'nix.tar');

  const reference = await fetch(imageUrl(ample, 'budget/nix', forNix));
  const expected = Buffer.from(await reference.arrayBuffer());
  expect(hash).toBe((await nixHash32([sha256(expected)]))[0]);
  expect(subrequestsLogged(capped, path).length).toBeGreaterThan(1);
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
