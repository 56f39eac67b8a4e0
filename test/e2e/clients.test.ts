/**
 * Real clients pulling through the edge: skopeo from an anonymous, a token and an htpasswd
 * registry, and podman and containerd (where they can run) with the edge as their mirror.
 *
 * containers/image (skopeo, podman) refuses `docker://EDGE/127.0.0.1:PORT/repo` because of
 * the port in a path component (TOOLCHAIN.md), so those clients use the mirror form
 * `/v2/<repository>/...` and each edge's DEFAULT_REGISTRY is its registry. containerd names
 * the registry with `?ns=` instead, so its edge defaults to a registry that would refuse it.
 *
 * Every client command pays about 10 s before its first request: containers/image tries
 * https first and waits out its TLS handshake timeout against the plain-HTTP edge. The
 * suites and their tests therefore run concurrently.
 */
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest';
import { sha256Digest } from '../harness/blob';
import { containerdUsable, startContainerd, type Containerd } from '../harness/containerd';
import { startEdge, type StartedEdge } from '../harness/edge';
import {
  pushStandardFixtures,
  type FixtureImage,
  type StandardFixtures,
} from '../harness/fixtures';
import { buildImage, buildLayer, type BuiltManifest } from '../harness/image-builder';
import { podmanUsable, preparePodman, type Podman } from '../harness/podman';
import { pushImage } from '../harness/push-image';
import { startRegistry, type RegistryAuth, type StartedRegistry } from '../harness/registry';
import {
  dockerImage,
  expectedFiles,
  prepareSkopeo,
  readDirCopy,
  readOciCopy,
  type ClientResult,
  type CopiedImage,
  type Skopeo,
} from '../harness/skopeo';
import { READER, type Credentials } from '../harness/users';

/** A registry with the standard fixtures, and an edge whose DEFAULT_REGISTRY it is. */
interface Setup {
  registry: StartedRegistry;
  fixtures: StandardFixtures;
  edge: StartedEdge;
  /** `private/app:1.0`, on the token registry only; its layer is in no other image. */
  privateImage?: FixtureImage;
}

const setups = new Map<RegistryAuth, Promise<Setup>>();
const cleanups: (() => Promise<void>)[] = [];
let skopeo: Skopeo;

// Suites share setups: podman and containerd pull from the registries skopeo reads.
function setup(auth: RegistryAuth): Promise<Setup> {
  let started = setups.get(auth);
  if (started === undefined) {
    started = startSetup(auth);
    setups.set(auth, started);
  }

  return started;
}

async function startSetup(auth: RegistryAuth): Promise<Setup> {
  const registry = await startRegistry({ auth });
  cleanups.push(() => registry.stop());
  const fixtures = await pushStandardFixtures(registry);
  const privateImage =
    auth === 'token' ? await pushOwnImage(registry, 'private/app', fixtures.nonce) : undefined;
  const edge = await startEdge({
    registries: [`http://${registry.host}`],
    vars: { DEFAULT_REGISTRY: registry.host },
  });
  cleanups.push(() => edge.stop({ keepState: false }));

  return { registry, fixtures, edge, privateImage };
}

// An image whose only layer names `repository`, so no other image shares its blobs.
async function pushOwnImage(
  registry: StartedRegistry,
  repository: string,
  nonce: string,
  alsoAs: string[] = [],
): Promise<FixtureImage> {
  const files = { 'etc/image': `${repository} ${nonce}\n` };
  const layers = [buildLayer(files, 'oci')];
  const platform = { architecture: 'amd64', os: 'linux' };
  const manifest = buildImage({ format: 'oci', platform, layers });
  for (const repo of [repository, ...alsoAs]) await pushImage(registry, repo, manifest, '1.0');

  return singleImage(repository, manifest);
}

function singleImage(repository: string, manifest: BuiltManifest): FixtureImage {
  const blobs = [manifest.config, ...manifest.layers];

  return { repository, tag: '1.0', top: manifest, manifests: [manifest], attestations: [], blobs };
}

beforeAll(async () => {
  skopeo = await prepareSkopeo();
});

afterAll(async () => {
  const steps = [...cleanups.reverse(), async () => skopeo?.cleanup()];
  const results = await Promise.allSettled(steps.map((step) => step()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
});

/** The image `repository:reference` as skopeo reaches it through `setup`'s edge. */
function viaEdge(s: Setup, repository: string, reference: string): string {
  return dockerImage(s.edge.url, repository, reference);
}

function expectSuccess(expect: ExpectStatic, result: ClientResult, what: string): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(0);
}

function expectRefused(expect: ExpectStatic, result: ClientResult, what: string): void {
  expect(result.code, `${what} should fail`).not.toBe(0);
  expect(result.timedOut, what).toBe(false);
  expect(result.stderr, what).toMatch(/unauthorized|401/i);
}

/**
 * Every file of the copy is a blob or manifest of `image`, named by its own sha256, byte for
 * byte the fixture's; none is missing; the top manifest keeps its digest.
 */
function expectFaithfulCopy(
  expect: ExpectStatic,
  copied: CopiedImage,
  image: FixtureImage,
  all: boolean,
): void {
  const want = expectedFiles(image, all);
  const top = all ? image.top.digest : image.manifests[0]!.digest;
  expect(copied.topDigest, `${image.repository} top manifest`).toBe(top);
  expect([...copied.files.keys()].sort(), image.repository).toEqual([...want.keys()].sort());
  for (const [digest, bytes] of copied.files) {
    expect(sha256Digest(bytes), `sha256 of the file named ${digest}`).toBe(digest);
    const same = bytes.equals(Buffer.from(want.get(digest) ?? []));
    expect(same, `${digest} equals the fixture's bytes`).toBe(true);
  }
}

const SKOPEO_MODES: { auth: RegistryAuth; creds: Credentials | undefined }[] = [
  { auth: 'none', creds: undefined },
  { auth: 'token', creds: READER },
  { auth: 'htpasswd', creds: READER },
];

const skopeoSuites = describe.concurrent.each(SKOPEO_MODES);

skopeoSuites('skopeo through the edge, $auth registry', ({ auth, creds }) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup(auth);
  });

  it('inspect --raw answers the manifest bytes the registry does, by tag and digest', async ({
    expect,
  }) => {
    await Promise.all(
      s.fixtures.all.map(async (image) => {
        const direct = await skopeo.inspectRaw(
          dockerImage(s.registry.url, image.repository, image.tag),
          { creds },
        );
        expectSuccess(expect, direct, `${image.repository} from the registry`);
        expect(direct.stdout.equals(Buffer.from(image.top.bytes)), image.repository).toBe(true);

        const references = [image.tag, image.top.digest];
        const results = await Promise.all(
          references.map((ref) => skopeo.inspectRaw(viaEdge(s, image.repository, ref), { creds })),
        );
        results.forEach((result, i) => {
          const what = `${image.repository} ${references[i]} through the edge`;
          expectSuccess(expect, result, what);
          expect(result.stdout.equals(direct.stdout), what).toBe(true);
        });
      }),
    );
  });

  // skopeo inspect also lists the repository's tags (GET /v2/<name>/tags/list).
  it('inspect reports the digest, platform and layers', async ({ expect }) => {
    await Promise.all(
      [s.fixtures.oci, s.fixtures.index].map(async (image) => {
        const result = await skopeo.inspect(viaEdge(s, image.repository, image.tag), { creds });
        expectSuccess(expect, result, `skopeo inspect ${image.repository}`);

        const info = JSON.parse(result.stdout.toString('utf8')) as Record<string, unknown>;
        const amd64 = image.manifests[0]!;
        expect(info, image.repository).toMatchObject({
          Digest: image.top.digest,
          Architecture: 'amd64',
          Os: 'linux',
          Layers: amd64.layers.map((layer) => layer.digest),
        });
      }),
    );
  });

  it('copy of one image to dir: writes the fixture blobs byte for byte', async ({ expect }) => {
    await Promise.all(
      [s.fixtures.oci, s.fixtures.dockerV2].map(async (image) => {
        const dir = skopeo.newPath('dir');
        const source = viaEdge(s, image.repository, image.tag);
        const result = await skopeo.copy(source, `dir:${dir}`, { creds });
        expectSuccess(expect, result, `skopeo copy ${source}`);
        expectFaithfulCopy(expect, await readDirCopy(dir), image, false);
      }),
    );
  });

  it('copy --all of the OCI index to oci: keeps its digest and every blob', async ({ expect }) => {
    const image = s.fixtures.index;
    const dir = skopeo.newPath('oci');
    const source = viaEdge(s, image.repository, image.tag);
    const result = await skopeo.copy(source, `oci:${dir}:${image.tag}`, { creds, all: true });
    expectSuccess(expect, result, `skopeo copy --all ${source}`);
    expectFaithfulCopy(expect, await readOciCopy(dir), image, true);
  });

  it('copy --all of the Docker list to dir: keeps its digest and every blob', async ({
    expect,
  }) => {
    const image = s.fixtures.list;
    const dir = skopeo.newPath('list');
    const source = viaEdge(s, image.repository, image.tag);
    const result = await skopeo.copy(source, `dir:${dir}`, { creds, all: true });
    expectSuccess(expect, result, `skopeo copy --all ${source}`);
    expectFaithfulCopy(expect, await readDirCopy(dir), image, true);
  });
});

describe.concurrent('skopeo and private content on the token registry', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup('token');
  });

  it('without credentials fails, with them answers the image, then fails again without', async ({
    expect,
  }) => {
    const image = s.privateImage!;
    const source = viaEdge(s, image.repository, image.tag);

    const refused = [skopeo.inspectRaw(source), skopeo.copy(source, `dir:${skopeo.newPath('p')}`)];
    for (const result of await Promise.all(refused)) expectRefused(expect, result, source);

    const dir = skopeo.newPath('private');
    const [raw, copied] = await Promise.all([
      skopeo.inspectRaw(source, { creds: READER }),
      skopeo.copy(source, `dir:${dir}`, { creds: READER }),
    ]);
    expectSuccess(expect, raw, `skopeo inspect --raw --creds ${source}`);
    expect(raw.stdout.equals(Buffer.from(image.top.bytes))).toBe(true);
    expectSuccess(expect, copied, `skopeo copy --src-creds ${source}`);
    expectFaithfulCopy(expect, await readDirCopy(dir), image, false);

    // Now the edge holds the manifest and blobs; it must still not hand them out anonymously.
    const again = [skopeo.inspectRaw(source), skopeo.copy(source, `dir:${skopeo.newPath('p')}`)];
    for (const result of await Promise.all(again)) {
      expectRefused(expect, result, `${source}, cached`);
    }
  });

  it('a layer a private image shares stays pullable anonymously from a public repository', async ({
    expect,
  }) => {
    // The same image in a private and a public repository: the credentialed pull caches the
    // blobs first, then an anonymous caller asks for them through the public repository,
    // where the registry serves them to anyone (DESIGN.md, invariant 3).
    const image = await pushOwnImage(s.registry, 'private/base', s.fixtures.nonce, ['public/base']);
    const privateSource = viaEdge(s, 'private/base', image.tag);
    const firstDir = `dir:${skopeo.newPath('base')}`;
    const first = await skopeo.copy(privateSource, firstDir, { creds: READER });
    expectSuccess(expect, first, `skopeo copy --src-creds ${privateSource}`);

    const dir = skopeo.newPath('public');
    const publicSource = viaEdge(s, 'public/base', image.tag);
    const result = await skopeo.copy(publicSource, `dir:${dir}`);
    expectSuccess(expect, result, `anonymous skopeo copy ${publicSource}`);
    expectFaithfulCopy(expect, await readDirCopy(dir), image, false);
  });
});

describe.concurrent('skopeo and the htpasswd registry', () => {
  it('without credentials is refused', async ({ expect }) => {
    const s = await setup('htpasswd');
    const source = viaEdge(s, s.fixtures.oci.repository, s.fixtures.oci.tag);
    expectRefused(expect, await skopeo.inspectRaw(source), source);
  });
});

/** Registry host of `url` (`127.0.0.1:PORT`). */
function hostOf(url: string): string {
  return new URL(url).host;
}

function notRunNote(check: { ok: true } | { ok: false; reason: string }, tool: string): string {
  if (check.ok) return '';

  // Printed as well, so a skipped suite is visible in the log and says why.
  console.warn(`clients.test.ts: ${tool} tests not run: ${check.reason}`);
  return ` (not run: ${check.reason})`;
}

const podmanCheck = await podmanUsable();

describe
  .skipIf(!podmanCheck.ok)
  .concurrent(
    `podman pull with the edge as a registries.conf mirror${notRunNote(podmanCheck, 'podman')}`,
    () => {
      let podman: Podman;
      let none: Setup;
      let token: Setup;
      beforeAll(async () => {
        [none, token] = await Promise.all([setup('none'), setup('token')]);
        podman = await preparePodman(
          [none, token].map((s) => ({ registry: s.registry.host, edgeHost: hostOf(s.edge.url) })),
        );
      });
      afterAll(async () => {
        await podman?.cleanup();
      });

      it('pulls an OCI image and an index and keeps their digests', async ({ expect }) => {
        await Promise.all(
          [none.fixtures.oci, none.fixtures.index].map(async (image) => {
            const ref = `${none.registry.host}/${image.repository}:${image.tag}`;
            expectSuccess(expect, await podman.pull(ref), `${podman.command} pull ${ref}`);

            expect(await podman.inspect(ref, '{{.Digest}}'), ref).toBe(image.top.digest);
            const config = image.manifests[0]!.config.digest;
            expect(`sha256:${await podman.inspect(ref, '{{.Id}}')}`, ref).toBe(config);
          }),
        );
      });

      // Refused, podman retries three times, and each try waits out the TLS probe: ~45 s.
      it('pulls a private image only with a login for the edge', async ({ expect }) => {
        const image = token.privateImage!;
        const ref = `${token.registry.host}/${image.repository}:${image.tag}`;
        expectRefused(expect, await podman.pull(ref), `podman pull ${ref}`);

        const result = await podman.pull(ref, { login: READER });
        expectSuccess(expect, result, `${podman.command} pull ${ref}, logged in to the edge`);
        expect(await podman.inspect(ref, '{{.Digest}}')).toBe(image.top.digest);
      }, 180_000);
    },
  );

const containerdCheck = await containerdUsable();

describe
  .skipIf(!containerdCheck.ok)
  .concurrent(
    `ctr pulls through hosts.toml mirrors (?ns=)${notRunNote(containerdCheck, 'containerd')}`,
    () => {
      let containerd: Containerd;
      let none: Setup;
      let token: Setup;
      let htpasswd: Setup;
      beforeAll(async () => {
        const [n, t, h] = await Promise.all([setup('none'), setup('token'), setup('htpasswd')]);
        none = n;
        token = t;
        htpasswd = h;
        // Its default registry refuses anonymous pulls and holds other digests: a request
        // whose `ns` the edge ignored would fail.
        const edge = await startEdge({
          registries: [n, t, htpasswd].map((s) => `http://${s.registry.host}`),
          vars: { DEFAULT_REGISTRY: htpasswd.registry.host },
        });
        cleanups.push(() => edge.stop({ keepState: false }));
        // The htpasswd registry's mirror URL has it as a path: containerd then asks for
        // `/<registry>/v2/...`, the prefix form (C54).
        containerd = await startContainerd([
          ...[n, t].map((s) => ({ registry: s.registry.host, edgeUrl: edge.url })),
          { registry: h.registry.host, edgeUrl: `${edge.url}/${h.registry.host}` },
        ]);
      });
      afterAll(async () => {
        await containerd?.stop();
      });

      async function expectContent(expect: ExpectStatic, image: FixtureImage, all: boolean) {
        for (const [digest, bytes] of expectedFiles(image, all)) {
          const held = await containerd.content(digest);
          expect(sha256Digest(held), digest).toBe(digest);
          expect(held.equals(Buffer.from(bytes)), `${digest} equals the fixture's bytes`).toBe(
            true,
          );
        }
      }

      it('ctr image pull fetches and unpacks an image, byte for byte', async ({ expect }) => {
        const image = none.fixtures.dockerV2;
        const ref = `${none.registry.host}/${image.repository}:${image.tag}`;
        const result = await containerd.pull(ref);
        expectSuccess(expect, result, `ctr image pull --hosts-dir ${containerd.hostsDir} ${ref}`);

        expect(await containerd.imageDigest(ref)).toBe(image.top.digest);
        await expectContent(expect, image, false);
      });

      it('ctr content fetch --all-platforms keeps the index digest and every blob', async ({
        expect,
      }) => {
        const image = none.fixtures.index;
        const ref = `${none.registry.host}/${image.repository}:${image.tag}`;
        const result = await containerd.fetchAll(ref);
        expectSuccess(expect, result, `ctr content fetch --all-platforms ${ref}`);

        expect(await containerd.imageDigest(ref)).toBe(image.top.digest);
        await expectContent(expect, image, true);
      });

      it('pulls through a mirror URL whose path names the registry (C54)', async ({ expect }) => {
        const image = htpasswd.fixtures.oci;
        const ref = `${htpasswd.registry.host}/${image.repository}:${image.tag}`;
        const result = await containerd.pull(ref, { creds: READER });
        expectSuccess(expect, result, `ctr image pull --user ${ref} (prefix form)`);

        expect(await containerd.imageDigest(ref)).toBe(image.top.digest);
        await expectContent(expect, image, false);
      });

      it('a private image needs --user', async ({ expect }) => {
        const image = token.privateImage!;
        const ref = `${token.registry.host}/${image.repository}:${image.tag}`;
        expectRefused(expect, await containerd.pull(ref), `ctr image pull ${ref}`);

        const result = await containerd.pull(ref, { creds: READER });
        expectSuccess(expect, result, `ctr image pull --user ${ref}`);
        expect(await containerd.imageDigest(ref)).toBe(image.top.digest);
      });
    },
  );
