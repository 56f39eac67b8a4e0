/**
 * The fetchdocker expression (what hocker's docker2nix printed for nixpkgs' fetchdocker),
 * printed from a hand-made resolved image: a golden file, Nix's own parser, evaluation with
 * stub fetchers, what it refuses, and the printer's `rec`, `inherit` and `let` on their own.
 */
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest';
import { EdgeError } from '../../src/errors';
import type { PinnedImage } from '../../src/nix/expression';
import { fetchdockerExpression, fetchdockerNames } from '../../src/nix/fetchdocker';
import { nix, printNix, type NixExpr } from '../../src/nix/printer';
import { parseReference } from '../../src/reference';
import type { Descriptor } from '../../src/registry/manifest';
import { nixEnv, nixExprFile, nixHash32, nixInstantiateEval } from '../harness/nix';
import { requireTool, runChecked } from '../harness/tools';

const HEX = {
  manifest: 'c69bc1c113c5467ac261ee10c489c55c2cca3577fca72e72d810fdb9e62006d4',
  config: 'fd0554ef0f266104886a57fffd66a3d788a13147cf8a39702149983e37c2629e',
  layer0: 'd2d8a35104a4ca77e4ce40217d6c5f6f114f0b4955fe684f87cc82904fb2e14d',
  layer1: '65adf460bf3ccd83ffa6bdd668276d9ddfe94b0f3cfc885bd8a4f86403c6e392',
};
const HUB = 'https://registry-1.docker.io/v2/';
const GZIP_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const blob = (hex: string, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${hex}` as Digest,
  size: 1234,
});

function imageOf(reference: string, overrides: Partial<PinnedImage> = {}): PinnedImage {
  const digest = `sha256:${HEX.manifest}` as Digest;
  return {
    reference: parseReference(reference),
    imageDigest: digest,
    manifestDigest: digest,
    platform: null,
    tagConfirmedAt: 0,
    stale: false,
    config: blob(HEX.config, 'application/vnd.docker.container.image.v1+json'),
    layers: [blob(HEX.layer0, GZIP_LAYER), blob(HEX.layer1, GZIP_LAYER)],
    ...overrides,
  };
}

const HEADER =
  `# docker.io/library/debian:bookworm -> sha256:${HEX.manifest} (single platform), ` +
  "for nixpkgs' fetchdocker";

const GOLDEN = `${HEADER}
# When Nix builds, hocker-config and hocker-layer fetch from https://registry-1.docker.io/v2/;
# the config is found through tag bookworm, which must still name this manifest then.
# Private repositories need DOCKER_USER and DOCKER_PASS, or DOCKER_TOKEN, in the environment.
{ fetchDockerConfig, fetchDockerLayer, fetchdocker }:
fetchdocker rec {
  name = "debian";
  registry = "https://registry-1.docker.io/v2/";
  repository = "library";
  imageName = "debian";
  tag = "bookworm";
  imageConfig = fetchDockerConfig {
    inherit tag registry repository imageName;
    sha256 = "17k2q8vkx62945q3k2ng8wqs326pldkgvzspda408q961zpm81gx";
  };
  imageLayers = let
    layer0 = fetchDockerLayer {
      inherit registry repository imageName;
      layerDigest = "${HEX.layer0}";
      sha256 = "0kg1n97r10nchx7nizjm945ly4bgbxn7s8a0rvj7gjm40i8s7n6j";
    };
    layer1 = fetchDockerLayer {
      inherit registry repository imageName;
      layerDigest = "${HEX.layer1}";
      sha256 = "14p3qq1n9y54v1dqiz1w1x5ykpwxdlknimmxlvzq7k9wpxhg9bb5";
    };
  in [
    layer0
    layer1
  ];
}
`;

const STUBS = { fetchdocker: 'x: x', fetchDockerConfig: 'x: x', fetchDockerLayer: 'x: x' };

async function nixParse(text: string): Promise<string> {
  const file = await nixExprFile(text);
  const { stdout } = await runChecked(requireTool('nix-instantiate'), ['--parse', file], {
    env: nixEnv(),
  });
  return stdout;
}

describe('fetchdockerExpression', () => {
  const debian = imageOf('debian:bookworm');

  it("prints docker2nix's shape exactly (golden)", () => {
    const got = fetchdockerExpression(debian, { registryUrl: HUB, altName: null });

    expect(got, `fetchdockerExpression(debian) =\n${got}\nwant\n${GOLDEN}`).toBe(GOLDEN);
  });

  it('is accepted by nix-instantiate --parse', async () => {
    const parsed = await nixParse(GOLDEN);

    expect(parsed).toContain('fetchdocker');
  });

  it('evaluates with stub fetchers to the attributes fetchdocker is called with', async () => {
    const got = await nixInstantiateEval(GOLDEN, { args: STUBS });
    const [config, layer0, layer1] = await nixHash32([HEX.config, HEX.layer0, HEX.layer1]);
    const names = { registry: HUB, repository: 'library', imageName: 'debian' };

    expect(got).toEqual({
      name: 'debian',
      ...names,
      tag: 'bookworm',
      imageConfig: { ...names, tag: 'bookworm', sha256: config },
      imageLayers: [
        { ...names, layerDigest: HEX.layer0, sha256: layer0 },
        { ...names, layerDigest: HEX.layer1, sha256: layer1 },
      ],
    });
  });

  it('takes altName as the derivation name, and any registry URL as given', async () => {
    const text = fetchdockerExpression(imageOf('127.0.0.1:5000/team/app:1.2'), {
      registryUrl: 'http://127.0.0.1:5000/v2/',
      altName: 'my-app',
    });
    const got = (await nixInstantiateEval(text, { args: STUBS })) as Record<string, unknown>;

    expect(got).toMatchObject({
      name: 'my-app',
      registry: 'http://127.0.0.1:5000/v2/',
      repository: 'team',
      imageName: 'app',
      tag: '1.2',
    });
  });

  it.each([
    { name: 'three components', ref: 'ghcr.io/org/team/app:1', error: /has 3; use format=/ },
    { name: 'one component off the Hub', ref: '127.0.0.1:5000/app:1', error: /has 1;/ },
    { name: 'no tag', ref: 'debian@sha256:' + HEX.manifest, error: /needs a tag/ },
  ])('refuses a reference with $name as 400 UNSUPPORTED', ({ ref, error }) => {
    const reference = parseReference(ref);

    expect(() => fetchdockerNames(reference)).toThrow(error);
    expect(() => fetchdockerNames(reference)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED', status: 400 }) as EdgeError,
    );
  });

  it.each<{ name: string; image: PinnedImage; error: RegExp }>([
    {
      name: 'a multi-platform index',
      image: imageOf('debian:bookworm', { imageDigest: `sha256:${'a'.repeat(64)}` as Digest }),
      error: /multi-platform index/,
    },
    { name: 'no layers', image: imageOf('debian:bookworm', { layers: [] }), error: /no layers/ },
    {
      name: 'foreign layers',
      image: imageOf('debian:bookworm', {
        layers: [{ ...blob(HEX.layer0, GZIP_LAYER), urls: ['https://example.invalid/l'] }],
      }),
      error: /foreign layers/,
    },
  ])('refuses an image with $name', ({ image, error }) => {
    expect(() => fetchdockerExpression(image, { registryUrl: HUB, altName: null })).toThrow(error);
  });
});

describe("the printer's rec, inherit and let", () => {
  const expr = nix.function(
    ['f'],
    nix.attrs(
      {
        a: nix.string('x'),
        b: nix.apply('f', nix.attrs({ c: nix.int(1) }, { inherit: ['a'] })),
        l: nix.let([['one', nix.int(1)]], nix.list([nix.var('one'), nix.var('a')])),
        nested: nix.list([nix.let([], nix.int(2))]),
        empty: nix.attrs([], { rec: true }),
      },
      { rec: true },
    ),
  );

  it('prints what Nix evaluates to the intended value', async () => {
    const got = await nixInstantiateEval(printNix(expr), { args: { f: 'x: x' } });

    expect(got).toEqual({ a: 'x', b: { a: 'x', c: 1 }, l: [1, 'x'], nested: [2], empty: {} });
  });

  it.each<{ name: string; expr: NixExpr; error: RegExp }>([
    {
      name: 'an inherited name that is code',
      expr: nix.attrs({}, { inherit: ['a; x = abort "y"'] }),
      error: /not a Nix variable/,
    },
    {
      name: 'an inherited keyword',
      expr: nix.attrs({}, { inherit: ['in'] }),
      error: /not a Nix variable/,
    },
    {
      name: 'an attribute both inherited and defined',
      expr: nix.attrs({ a: nix.null }, { inherit: ['a'] }),
      error: /defined twice/,
    },
    {
      name: 'a let binding that is code',
      expr: nix.let([['a = 1; in abort "x"; b', nix.null]], nix.null),
      error: /not a Nix let binding/,
    },
    {
      name: 'a repeated let binding',
      expr: nix.let(
        [
          ['a', nix.null],
          ['a', nix.null],
        ],
        nix.null,
      ),
      error: /defined twice/,
    },
  ])('rejects $name', ({ expr, error }) => {
    expect(() => printNix(expr), 'printNix(x)').toThrow(error);
  });
});
