import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestFromHex, digestOfBytes, type Digest } from '../../src/digest';
import { fromNixBase32, nixBase32Length, toNixBase32 } from '../../src/nix/base32';
import { nixHashes } from '../../src/nix/hashes';
import { toSri } from '../../src/nix/sri';
import { nixHash32, nixToSri } from '../harness/nix';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// C17: the well-known tiny blobs, with the hashes Nix gives them.
const C17: { name: string; digest: Digest; nix32: string; sri: string }[] = [
  {
    name: 'the empty JSON object {}',
    digest: digestOfBytes(new TextEncoder().encode('{}')),
    nix32: '12pzm8fgcq60221pxrqzq97zp54ycklgf5md8q8qlrxkaniny4s4',
    sri: 'sha256-RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=',
  },
  {
    name: 'the 32-byte empty gzip layer',
    digest: digestFromHex('a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4'),
    nix32: '1m26bfaj4z4a1v824r5i7iikvs8ad0349n4zvn6fdzq2xg59bvd3',
    sri: 'sha256-o+2VyusC/+aM3Z/YRAZoCuk9YzyxZCLQDop8IpVbRtQ=',
  },
  {
    name: 'the empty blob',
    digest: digestOfBytes(new Uint8Array(0)),
    nix32: '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73',
    sri: 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
  },
];

describe('nixHashes', () => {
  it.each(C17)('gives C17 hashes for $name', ({ digest, nix32, sri }) => {
    const got = nixHashes(digest);

    expect(got, `nixHashes(${digest}) = ${JSON.stringify(got)}, want ${nix32} ${sri}`).toEqual({
      nix32,
      sri,
    });
  });

  it('has the digest of {} that C17 names', () => {
    const got = C17[0]!.digest;
    const want = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

    expect(got, `digestOfBytes("{}") = ${got}, want ${want}`).toBe(want);
  });
});

describe('toNixBase32', () => {
  it('agrees with nix-hash --to-base32 on 1000 random sha256 values', async () => {
    const digests = Array.from({ length: 1000 }, () => new Uint8Array(randomBytes(32)));
    const want = await nixHash32(digests.map(hex));

    const wrong = digests
      .map((bytes, i) => ({ hex: hex(bytes), got: toNixBase32(bytes), want: want[i] }))
      .filter(({ got, want }) => got !== want);
    expect(wrong, 'toNixBase32(x) = got, want nix-hash').toEqual([]);
  });

  it.each([
    { name: 'all zero bits', byte: 0x00, want: '0'.repeat(52) },
    { name: 'all one bits', byte: 0xff, want: '1' + 'z'.repeat(51) },
  ])('encodes $name', ({ byte, want }) => {
    const got = toNixBase32(new Uint8Array(32).fill(byte));

    expect(got, `toNixBase32(32 x ${byte}) = ${got}, want ${want}`).toBe(want);
  });

  it.each([0, 1, 5, 20, 32, 64])('gives ceil(8n/5) characters for %i bytes', (length) => {
    const got = toNixBase32(new Uint8Array(randomBytes(length))).length;

    expect(got, `toNixBase32(${length} bytes).length = ${got}`).toBe(nixBase32Length(length));
  });
});

describe('fromNixBase32', () => {
  it('reverses toNixBase32', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = new Uint8Array(randomBytes(32));
      const text = toNixBase32(bytes);

      expect(hex(fromNixBase32(text)), `fromNixBase32(${text})`).toBe(hex(bytes));
    }
  });

  it.each([
    { name: 'too short', text: '0'.repeat(51), error: /51 characters, want 52/ },
    { name: 'too long', text: '0'.repeat(53), error: /53 characters, want 52/ },
    { name: 'a letter outside the alphabet', text: 'e' + '0'.repeat(51), error: /'e' is not/ },
    { name: 'uppercase', text: 'A' + '0'.repeat(51), error: /'A' is not/ },
    { name: 'bits beyond 256', text: '2' + '0'.repeat(51), error: /beyond the digest/ },
  ])('rejects $name', ({ text, error }) => {
    expect(() => fromNixBase32(text), `fromNixBase32(${text})`).toThrow(error);
  });
});

describe('toSri', () => {
  it('agrees with nix hash to-sri on 300 random sha256 values', async () => {
    const digests = Array.from({ length: 300 }, () => new Uint8Array(randomBytes(32)));
    const want = await nixToSri(digests.map(hex));

    const wrong = digests
      .map((bytes, i) => ({ hex: hex(bytes), got: toSri(bytes), want: want[i] }))
      .filter(({ got, want }) => got !== want);
    expect(wrong, 'toSri(x) = got, want nix hash to-sri').toEqual([]);
  });

  it.each([0, 31, 33, 64])('rejects %i bytes', (length) => {
    expect(() => toSri(new Uint8Array(length)), `toSri(${length} bytes)`).toThrow(RangeError);
  });
});
