/**
 * Invariant 3 and the credentials rules of DESIGN.md, against a token registry (private/
 * repositories need the reader) and an htpasswd registry (everything needs a user): what a
 * caller fetched with credentials is served again, from R2, only to callers the registry
 * accepts, and never on the hashed mirror; public content stays public whoever fetched it;
 * credentials with `$`, `:` and `%` reach the registry intact (C63); and no password, Basic
 * value or token is ever written to the edge's output, KV or R2 (C53).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltBlob } from '../harness/blob';
import { startEdge, type StartedEdge } from '../harness/edge';
import { buildImage, buildLayer, type BuiltManifest } from '../harness/image-builder';
import { secretsKeptBy } from '../harness/leaks';
import { pushImage } from '../harness/push-image';
import { startRegistry, type StartedRegistry } from '../harness/registry';
import { basicAuthorization, type Credentials, READER, ROBOT } from '../harness/users';

const TAG = '1.0';
const WRONG: Credentials = { username: READER.username, password: 'wrong' };
// The robot's credentials as copying mangles them (C63): compose files and Makefiles take $$
// for one $, URL decoders turn %41 into A, and a shell expands $ci-pull to nothing. Each must
// be refused upstream, never half-accepted.
const MANGLED: Credentials[] = [
  { username: ROBOT.username, password: 'p:a$w0rd%41' },
  { username: ROBOT.username, password: 'p:a$$w0rdA' },
  { username: 'robot', password: ROBOT.password },
];

let tokenRegistry: StartedRegistry;
let basicRegistry: StartedRegistry;
let edge: StartedEdge;

/** One image per repository, each with layers of its own, so no test sees another's cache. */
const images = new Map<string, BuiltManifest>();

beforeAll(async () => {
  tokenRegistry = await startRegistry({ auth: 'token' });
  basicRegistry = await startRegistry({ auth: 'htpasswd' });
  const pushes: [StartedRegistry, string, number][] = [
    [tokenRegistry, 'private/app', 2],
    [tokenRegistry, 'private/robot', 1],
    [tokenRegistry, 'public/app', 1],
    [basicRegistry, 'team/app', 2],
    [basicRegistry, 'team/robot', 1],
  ];
  for (const [registry, repository, layers] of pushes) {
    const image = buildTestImage(layers);
    await pushImage(registry, repository, image, TAG);
    images.set(`${registry.host}/${repository}`, image);
  }
  edge = await startEdge({
    registries: [`http://${tokenRegistry.host}`, `http://${basicRegistry.host}`],
  });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await tokenRegistry?.stop();
  await basicRegistry?.stop();
});

function buildTestImage(layers: number): BuiltManifest {
  const built = Array.from({ length: layers }, (_, i) =>
    buildLayer({ [`data/${i}`]: randomBytes(32 * 1024) }, 'oci'),
  );
  const platform = { architecture: 'amd64', os: 'linux' };
  return buildImage({ format: 'oci', platform, layers: built });
}

/** The edge URLs that answer one image: manifest by tag and digest, /nix, /hash, each blob. */
function urlsOf(registry: StartedRegistry, repository: string) {
  const image = pushedImage(registry, repository);
  const v2 = `${edge.url}/v2/${registry.host}/${repository}`;
  return {
    image,
    blobs: [image.config, ...image.layers].map((blob) => ({
      blob,
      url: `${v2}/blobs/${blob.digest}`,
    })),
    manifests: [`${v2}/manifests/${TAG}`, `${v2}/manifests/${image.digest}`],
    nix: `${edge.url}/nix/${registry.host}/${repository}:${TAG}`,
    hash: `${edge.url}/hash/${registry.host}/${repository}:${TAG}`,
  };
}

function pushedImage(registry: StartedRegistry, repository: string): BuiltManifest {
  const image = images.get(`${registry.host}/${repository}`);
  if (image === undefined) throw new Error(`no image pushed to ${registry.host}/${repository}`);
  return image;
}

function as(credentials: Credentials | null): Record<string, string> {
  return credentials === null ? {} : { Authorization: basicAuthorization(credentials) };
}

async function get(url: string, credentials: Credentials | null, init: RequestInit = {}) {
  const response = await fetch(url, { ...init, headers: { ...as(credentials), ...init.headers } });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { response, bytes };
}

async function expectBytes(url: string, credentials: Credentials | null, want: Uint8Array) {
  const { response, bytes } = await get(url, credentials);
  expect(response.status, url).toBe(200);
  expect(bytes.equals(Buffer.from(want)), url).toBe(true);
  return response;
}

/** Fetches the manifest (tag and digest), /nix and every blob; all must be exact. */
async function fetchAll(registry: StartedRegistry, repository: string, who: Credentials | null) {
  const urls = urlsOf(registry, repository);
  for (const url of urls.manifests) await expectBytes(url, who, urls.image.bytes);

  const nix = await get(urls.nix, who);
  expect(nix.response.status).toBe(200);
  expect(nix.bytes.toString('utf8')).toContain(urls.image.digest);

  const cacheControl: string[] = [];
  for (const { blob, url } of urls.blobs) {
    const response = await expectBytes(url, who, blob.bytes!);
    expect(response.headers.get('Docker-Content-Digest')).toBe(blob.digest);
    cacheControl.push(response.headers.get('Cache-Control') ?? '');
  }
  for (const { blob } of urls.blobs) await waitUntilCached(blob, who);
  return { nix: nix.bytes.toString('utf8'), cacheControl, blobs: urls.blobs };
}

/** The blob's URL on the edge's Nix hashed mirror, which serves public bytes only. */
function mirrorUrl(blob: BuiltBlob): string {
  return `${edge.url}/sha256/${blob.digest.slice('sha256:'.length)}`;
}

/**
 * R2 writes finish after the response (waitUntil); wait for this one to land. A private
 * blob's record is shown only to a caller the registry accepts, hence the credentials.
 */
async function waitUntilCached(blob: BuiltBlob, who: Credentials | null): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${edge.url}/hash/${blob.digest}`, { headers: as(who) });
    const record = (await response.json()) as { cached?: boolean };
    if (record.cached === true) return;
    if (Date.now() > deadline) throw new Error(`${blob.digest} was not cached within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Refusal {
  status: number;
  code: string;
}

/** Every URL of the image, and a blob HEAD and Range, answer `want` and never the bytes. */
async function expectRefused(
  urls: ReturnType<typeof urlsOf>,
  who: Credentials | null,
  want: Refusal,
): Promise<void> {
  const firstBlob = urls.blobs[0]!.url;
  const requests: [string, RequestInit][] = [
    ...[...urls.manifests, urls.nix, urls.hash, ...urls.blobs.map((b) => b.url)].map(
      (url): [string, RequestInit] => [url, {}],
    ),
    [firstBlob, { headers: { Range: 'bytes=0-9' } }],
  ];

  for (const [url, init] of requests) {
    const { response, bytes } = await get(url, who, init);
    const body = JSON.parse(bytes.toString('utf8')) as { errors: { code: string }[] };
    expect({ url, status: response.status, code: body.errors[0]?.code }).toEqual({ url, ...want });
    if (want.status === 401) {
      expect(response.headers.get('WWW-Authenticate')).toBe('Basic realm="hocker-edge"');
    }
  }

  const head = await fetch(firstBlob, { method: 'HEAD', headers: as(who) });
  expect(head.status).toBe(want.status);
  expect(head.headers.get('Docker-Content-Digest')).toBeNull();
}

const FLAVOURS = [
  { name: 'a token registry', registry: () => tokenRegistry, repository: 'private/app' },
  { name: 'an htpasswd registry', registry: () => basicRegistry, repository: 'team/app' },
];

describe.each(FLAVOURS)('private content on $name', ({ registry, repository }) => {
  it('is served to the reader, byte for byte, and cached as private', async () => {
    const { nix, cacheControl } = await fetchAll(registry(), repository, READER);

    expect(cacheControl.every((value) => value.startsWith('private,'))).toBe(true);
    // C53: the expression a Nix user pins holds no trace of the caller's credentials.
    for (const secret of secretsOf([READER])) expect(nix).not.toContain(secret);
  });

  const UNAUTHORIZED: Refusal = { status: 401, code: 'UNAUTHORIZED' };

  it('is refused, from the cache, to a caller without credentials: 401, challenged', async () => {
    await expectRefused(urlsOf(registry(), repository), null, UNAUTHORIZED);
  });

  it('is refused to wrong credentials with 401 UNAUTHORIZED', async () => {
    await expectRefused(urlsOf(registry(), repository), WRONG, UNAUTHORIZED);
  });

  it('is not on the hashed mirror, whoever asks: 404 BLOB_UNKNOWN', async () => {
    for (const { blob } of urlsOf(registry(), repository).blobs) {
      for (const who of [null, READER]) {
        const { response, bytes } = await get(mirrorUrl(blob), who);
        const body = JSON.parse(bytes.toString('utf8')) as { errors: { code: string }[] };
        expect({ status: response.status, code: body.errors[0]?.code }).toEqual({
          status: 404,
          code: 'BLOB_UNKNOWN',
        });
      }
    }
  });

  it('is served again from the cache to the reader', async () => {
    const urls = urlsOf(registry(), repository);
    for (const url of urls.manifests) await expectBytes(url, READER, urls.image.bytes);
    for (const { blob, url } of urls.blobs) await expectBytes(url, READER, blob.bytes!);
  });
});

describe('public content on a token registry fetched by a caller with credentials', () => {
  it('is fetched anonymously, so anonymous callers get it too', async () => {
    const tokens = tokenRegistry.tokenServer!.requests;
    const before = tokens.length;
    const { cacheControl } = await fetchAll(tokenRegistry, 'public/app', READER);

    // The registry never needed the reader: every token the edge asked for was anonymous.
    const asked = tokens.slice(before).filter((r) => r.scope.includes('public/app'));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((request) => request.user === null)).toBe(true);
    expect(cacheControl.every((value) => value.startsWith('public,'))).toBe(true);

    const { blobs } = await fetchAll(tokenRegistry, 'public/app', null);
    for (const { blob } of blobs) await expectBytes(mirrorUrl(blob), null, blob.bytes!);
  });
});

const ROBOT_FLAVOURS = [
  { name: 'a token registry', registry: () => tokenRegistry, repository: 'private/robot' },
  { name: 'an htpasswd registry', registry: () => basicRegistry, repository: 'team/robot' },
];

it('sends the robot as the exact Basic value of case C63', () => {
  expect(basicAuthorization(ROBOT)).toBe('Basic cm9ib3QkY2ktcHVsbDpwOmEkJHcwcmQlNDE=');
});

describe.each(ROBOT_FLAVOURS)('robot credentials (C63) on $name', ({ registry, repository }) => {
  it.each(MANGLED)('mangled as $username:$password are refused with 401', async (mangled) => {
    const urls = urlsOf(registry(), repository);
    const { response, bytes } = await get(urls.manifests[0]!, mangled);
    const body = JSON.parse(bytes.toString('utf8')) as { errors: { code: string }[] };

    expect(response.status).toBe(401);
    expect(body.errors[0]?.code).toBe('UNAUTHORIZED');
  });

  it('reach the registry intact: manifest, /nix and every blob are served', async () => {
    await fetchAll(registry(), repository, ROBOT);

    const server = registry().tokenServer;
    if (server !== undefined) {
      const robot = server.requests.filter((r) => r.user === ROBOT.username && r.status === 200);
      expect(robot.length).toBeGreaterThan(0);
    }
  });
});

describe('what the edge keeps', () => {
  it('holds no password, Basic value or issued token in its output, KV or R2', async () => {
    const issued = tokenRegistry.tokenServer!.issued;
    expect(issued.length).toBeGreaterThan(0);
    // Stopped first, so that everything the worker wrote has reached its files.
    await edge.stop();

    // The search does read the state: KV records name the repositories, R2 holds the bytes.
    const config = Buffer.from(pushedImage(tokenRegistry, 'private/app').config.bytes!);
    const controls = await secretsKeptBy(edge, ['"repository":"team/app"', config.toString()]);
    const inFiles = controls.filter((place) => !place.startsWith('edge output:'));
    expect(inFiles.some((place) => place.endsWith('"repository":"team/app"'))).toBe(true);
    expect(inFiles.some((place) => place.endsWith(config.toString()))).toBe(true);

    const tokens = issued.flatMap((token) => [token, token.split('.')[2]!]);
    const passwords = secretsOf([READER, ROBOT, WRONG, ...MANGLED]);
    expect(await secretsKeptBy(edge, [...passwords, ...tokens])).toEqual([]);
  });
});

/**
 * The forms in which a credential could leak: `user:password` as text, base64 and URL
 * encoding, and a password long enough to mean something on its own in the same forms.
 */
function secretsOf(credentials: Credentials[]): string[] {
  return credentials.flatMap(({ username, password }) => {
    const pair = `${username}:${password}`;
    const forms = [pair, base64(pair), encodeURIComponent(pair)];
    if (password.length >= 8) forms.push(password, base64(password), encodeURIComponent(password));
    return forms;
  });
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
