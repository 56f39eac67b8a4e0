/**
 * The product's reason to exist, end to end: for a real registry (anonymous and token auth),
 * `/nix/<reference>` gives an expression that Nix builds against the running edge, with every
 * store file byte-identical to the registry's blob, and `/hash/<reference>` agrees with Nix.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type StartedEdge } from '../harness/edge';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import type { BuiltManifest } from '../harness/image-builder';
import {
  nixBuild,
  nixExprFile,
  nixHash32,
  nixInstantiateEval,
  nixPrefetchUrl,
} from '../harness/nix';
import { startRegistry, type StartedRegistry } from '../harness/registry';

interface Case {
  name: string;
  fixture: keyof Pick<StandardFixtures, 'dockerV2' | 'oci' | 'list' | 'index'>;
  platform?: string;
  /** Which of the fixture's manifests the platform should select. */
  want: { architecture: string };
}

const CASES: Case[] = [
  { name: 'Docker v2 image', fixture: 'dockerV2', want: { architecture: 'amd64' } },
  { name: 'OCI image', fixture: 'oci', want: { architecture: 'amd64' } },
  { name: 'Docker list, default platform', fixture: 'list', want: { architecture: 'amd64' } },
  {
    name: 'Docker list, linux/arm64/v8',
    fixture: 'list',
    platform: 'linux/arm64/v8',
    want: { architecture: 'arm64' },
  },
  {
    name: 'OCI index, x86_64-linux',
    fixture: 'index',
    platform: 'x86_64-linux',
    want: { architecture: 'amd64' },
  },
  {
    name: 'OCI index, aarch64-linux',
    fixture: 'index',
    platform: 'aarch64-linux',
    want: { architecture: 'arm64' },
  },
];

interface Pinned {
  imageName: string;
  imageTag: string | null;
  imageDigest: string;
  manifestDigest: string;
}

describe.each(['none', 'token'] as const)('pinning images from a registry with auth %s', (auth) => {
  let registry: StartedRegistry;
  let fixtures: StandardFixtures;
  let edge: StartedEdge;

  beforeAll(async () => {
    registry = await startRegistry({ auth });
    fixtures = await pushStandardFixtures(registry);
    edge = await startEdge({ registries: [`http://${registry.host}`] });
  });

  afterAll(async () => {
    await edge?.stop({ keepState: false });
    await registry?.stop();
    await fixtures?.cleanup();
  });

  const pathFor = (c: Case) => {
    const query = c.platform === undefined ? '' : `?platform=${c.platform}`;
    return `${registry.host}/${fixtures[c.fixture].repository}:1.0${query}`;
  };

  const manifestFor = (c: Case): BuiltManifest => {
    const chosen = fixtures[c.fixture].manifests.find(
      (m) => m.platform.architecture === c.want.architecture,
    );
    if (chosen === undefined) throw new Error(`fixture ${c.fixture} has no ${c.want.architecture}`);
    return chosen;
  };

  it.each(CASES)('nix-build of /nix/... stores the registry bytes: $name', async (c) => {
    const response = await fetch(`${edge.url}/nix/${pathFor(c)}`);
    const text = await response.text();
    expect(response.status, text).toBe(200);

    const image = await nixExprFile(text, 'image.nix');
    const pinned = (await nixInstantiateEval(
      `let e = import ${image} { fetchurl = x: x.url; }; in ` +
        '{ inherit (e) imageName imageTag imageDigest manifestDigest; }',
    )) as Pinned;
    const manifest = manifestFor(c);
    expect(pinned).toEqual({
      imageName: `${registry.host}/${fixtures[c.fixture].repository}`,
      imageTag: '1.0',
      imageDigest: fixtures[c.fixture].top.digest,
      manifestDigest: manifest.digest,
    });

    const build = await nixExprFile(
      `let e = import ${image} { fetchurl = import <nix/fetchurl.nix>; }; ` +
        'in [ e.config ] ++ e.layers',
    );
    const paths = await nixBuild(build);
    const expected = [manifest.config, ...manifest.layers];
    expect(paths).toHaveLength(expected.length);
    for (const [i, path] of paths.entries()) {
      const bytes = await readFile(path);
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(
        expected[i]!.digest,
      );
      expect(Buffer.compare(bytes, Buffer.from(expected[i]!.bytes!))).toBe(0);
    }
  });

  it.each(CASES)('/hash/... agrees with nix-prefetch-url and nix-hash: $name', async (c) => {
    const response = await fetch(`${edge.url}/hash/${pathFor(c)}`);
    const body = (await response.json()) as HashDocument;
    expect(response.status, JSON.stringify(body)).toBe(200);

    const manifest = manifestFor(c);
    expect(body.imageDigest).toBe(fixtures[c.fixture].top.digest);
    expect(body.manifestDigest).toBe(manifest.digest);
    const blobs = [body.config, ...body.layers];
    const expected = [manifest.config, ...manifest.layers];
    expect(blobs.map((b) => [b.digest, b.size, b.mediaType])).toEqual(
      expected.map((b) => [b.digest, b.size, b.mediaType]),
    );

    const fromNixHash = await nixHash32(blobs.map((b) => b.digest.slice('sha256:'.length)));
    for (const [i, blob] of blobs.entries()) {
      expect(blob.sha256).toBe(fromNixHash[i]);
      expect(blob.hash).toBe(
        `sha256-${Buffer.from(blob.digest.slice(7), 'hex').toString('base64')}`,
      );
      expect(blob.url).toBe(
        `${edge.url}/v2/${registry.host}/${fixtures[c.fixture].repository}/blobs/${blob.digest}`,
      );
      expect(await nixPrefetchUrl(blob.url, 'blob')).toBe(blob.sha256);
    }
  });
});

interface HashBlob {
  digest: string;
  size: number;
  mediaType: string;
  sha256: string;
  hash: string;
  url: string;
}

interface HashDocument {
  imageDigest: string;
  manifestDigest: string;
  config: HashBlob;
  layers: HashBlob[];
}
