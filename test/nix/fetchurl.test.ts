import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFromHex } from '../../src/digest';
import { nixHashes } from '../../src/nix/hashes';
import { nix, printNix } from '../../src/nix/printer';
import { nixBuild, nixExprFile, nixPrefetchUrl } from '../harness/nix';

// End to end: a printed fetchurl expression, with hashes taken from the registry digest
// alone, builds with Nix's builtin fetchurl against a local server, and a wrong hash fails.

const BLOB = randomBytes(100_000);
const HEX = createHash('sha256').update(BLOB).digest('hex');
const HASHES = nixHashes(digestFromHex(HEX));

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_request, response) => response.end(BLOB));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/sha256:${HEX}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function fetchExpression(hash: [name: 'sha256' | 'hash', value: string]): string {
  const args = nix.attrs([
    ['name', nix.string(`blob-${HEX.slice(0, 12)}`)],
    ['url', nix.string(url)],
    [hash[0], nix.string(hash[1])],
  ]);

  return printNix(nix.function(['fetchurl'], nix.apply('fetchurl', args)));
}

const BUILTIN_FETCHURL = ['--arg', 'fetchurl', 'import <nix/fetchurl.nix>'];

describe('a printed fetchurl expression', () => {
  it('has the hash nix-prefetch-url computes from the bytes', async () => {
    const got = await nixPrefetchUrl(url, `blob-${HEX.slice(0, 12)}`);

    expect(got, `nix-prefetch-url = ${got}, want ${HASHES.nix32}`).toBe(HASHES.nix32);
  });

  it.each([
    { name: 'sha256 = nix32', hash: ['sha256', HASHES.nix32] as ['sha256', string] },
    { name: 'hash = SRI', hash: ['hash', HASHES.sri] as ['hash', string] },
  ])('builds with builtin fetchurl using $name', async ({ hash }) => {
    const file = await nixExprFile(fetchExpression(hash));

    const [out] = await nixBuild(file, BUILTIN_FETCHURL);
    expect(out, 'nix-build out path').toMatch(/^\/nix\/store\/[a-z0-9]{32}-blob-/);
    expect(Buffer.compare(await readFile(out!), BLOB), 'built file = served bytes').toBe(0);
  });

  it('cannot be fetched without a name: the URL ends in sha256:<hex>', async () => {
    await expect(nixPrefetchUrl(url)).rejects.toThrow(/illegal character ':'/);
  });

  it('fails with a hash mismatch when the hash is wrong', async () => {
    const wrong = nixHashes(digestFromHex('0'.repeat(64))).nix32;
    const file = await nixExprFile(fetchExpression(['sha256', wrong]));

    await expect(nixBuild(file, BUILTIN_FETCHURL)).rejects.toThrow(/hash mismatch/);
  });
});
