/**
 * What the edge has fetched once it serves again with the registry gone: blobs from R2,
 * manifests by digest from R2, and `/nix/...@sha256:...` from R2 and KV.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEdge, type StartedEdge } from '../harness/edge';
import { pushStandardFixtures, type StandardFixtures } from '../harness/fixtures';
import { startRegistry, type StartedRegistry } from '../harness/registry';

let registry: StartedRegistry;
let fixtures: StandardFixtures;
let edge: StartedEdge;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'token' });
  fixtures = await pushStandardFixtures(registry);
  edge = await startEdge({ registries: [`http://${registry.host}`] });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
  await registry?.stop();
  await fixtures?.cleanup();
});

const ARM64 = 'linux/arm64/v8';

/** Everything asked of the edge before and after the registry stops. */
function urls(): string[] {
  const list = fixtures.list;
  const arm = list.manifests.find((m) => m.platform.architecture === 'arm64')!;
  const base = `${edge.url}/v2/${registry.host}/${list.repository}`;
  return [
    `${base}/manifests/${list.top.digest}`,
    `${base}/manifests/${arm.digest}`,
    ...[arm.config, ...arm.layers].map((blob) => `${base}/blobs/${blob.digest}`),
    `${edge.url}/nix/${registry.host}/${list.repository}@${list.top.digest}?platform=linux/arm64`,
    `${edge.url}/hash/${registry.host}/${list.repository}@${list.top.digest}?platform=${ARM64}`,
    `${edge.url}/nix/${registry.host}/${list.repository}:1.0?platform=aarch64-linux`,
  ];
}

interface Answer {
  status: number;
  digestHeader: string | null;
  bytes: Buffer;
}

async function answer(url: string): Promise<Answer> {
  const response = await fetch(url);
  return {
    status: response.status,
    digestHeader: response.headers.get('Docker-Content-Digest'),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

it('serves blobs, manifests and expressions from R2 and KV with the registry stopped', async () => {
  const before = await Promise.all(urls().map(answer));
  for (const [i, result] of before.entries()) {
    expect(result.status, `${urls()[i]}: ${result.bytes.toString()}`).toBe(200);
  }
  const arm = fixtures.list.manifests.find((m) => m.platform.architecture === 'arm64')!;
  expect(before[0]!.bytes.equals(Buffer.from(fixtures.list.top.bytes))).toBe(true);
  expect(before[1]!.bytes.equals(Buffer.from(arm.bytes))).toBe(true);
  expect(before[2]!.bytes.equals(Buffer.from(arm.config.bytes!))).toBe(true);

  await registry.stop();
  const unreachable = await fetch(
    `${edge.url}/nix/${registry.host}/${fixtures.oci.repository}:1.0`,
  );
  expect(unreachable.status).toBe(502);

  const after = await Promise.all(urls().map(answer));
  for (const [i, result] of after.entries()) {
    expect(result.status, urls()[i]).toBe(200);
    expect(result.digestHeader).toBe(before[i]!.digestHeader);
    expect(result.bytes.equals(before[i]!.bytes), urls()[i]).toBe(true);
  }
});
