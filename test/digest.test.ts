// Digests: parseDigest/isDigest validation, digestOfBytes vectors, and hex/byte conversions.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Digest,
  digestBytes,
  digestFromHex,
  digestHex,
  digestOfBytes,
  isDigest,
  parseDigest,
} from '../src/digest';
import { EdgeError } from '../src/errors';

const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY = `sha256:${HEX}`;

const show = (value: unknown) => JSON.stringify(value);
const enc = (text: string) => new TextEncoder().encode(text);
const nodeSha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/** The code, status and message `fn` threw, or what it returned. */
function outcome(fn: () => unknown): unknown {
  try {
    return { returned: fn() };
  } catch (error) {
    if (!(error instanceof EdgeError)) throw error;
    return { code: error.code, status: error.status, message: error.message };
  }
}

describe('parseDigest and isDigest', () => {
  it.each([
    { name: 'the empty-string digest', input: EMPTY },
    { name: 'all zeroes', input: `sha256:${'0'.repeat(64)}` },
    { name: 'every hex letter', input: `sha256:${'0123456789abcdef'.repeat(4)}` },
  ])('accepts $name', ({ input }) => {
    expect(isDigest(input), `isDigest(${input})`).toBe(true);
    expect(
      outcome(() => parseDigest(input)),
      `parseDigest(${input})`,
    ).toEqual({
      returned: input,
    });
  });

  const invalid = (message: string) => ({ code: 'DIGEST_INVALID', status: 400, message });
  const unsupported = (algorithm: string) => ({
    code: 'UNSUPPORTED',
    status: 400,
    message: `digest algorithm '${algorithm}' is not supported; use sha256`,
  });
  const UPPER = HEX.toUpperCase();
  const G64 = 'g'.repeat(64);
  const form = (value: string) =>
    invalid(`'${value}' is not a digest of the form sha256:<64 lowercase hex>`);

  it.each([
    { name: 'upper-case hex', input: `sha256:${UPPER}`, want: form(`sha256:${UPPER}`) },
    { name: 'one hex digit short', input: EMPTY.slice(0, -1), want: form(EMPTY.slice(0, -1)) },
    { name: 'one hex digit long', input: `${EMPTY}0`, want: form(`${EMPTY}0`) },
    { name: 'a non-hex letter', input: `sha256:${G64}`, want: form(`sha256:${G64}`) },
    { name: 'no hex at all', input: 'sha256:', want: form('sha256:') },
    { name: 'the empty string', input: '', want: form('') },
    { name: 'a trailing newline', input: `${EMPTY}\n`, want: form(`${EMPTY}\n`) },
    { name: 'surrounding spaces', input: ` ${EMPTY} `, want: form(` ${EMPTY} `) },
    { name: 'a missing algorithm and colon', input: HEX, want: form(HEX) },
    // `:<hex>` lacks its algorithm; it is malformed, not a request for an unsupported one.
    { name: 'an empty algorithm', input: `:${HEX}`, want: form(`:${HEX}`) },
    { name: 'sha512', input: `sha512:${'ab'.repeat(64)}`, want: unsupported('sha512') },
    { name: 'sha384', input: `sha384:${'ab'.repeat(48)}`, want: unsupported('sha384') },
    {
      name: 'a registered variant',
      input: `sha256+b64u:${'A'.repeat(43)}`,
      want: unsupported('sha256+b64u'),
    },
  ])('rejects $name', ({ input, want }) => {
    const got = outcome(() => parseDigest(input));

    expect(isDigest(input), `isDigest(${show(input)})`).toBe(false);
    expect(got, `parseDigest(${show(input)}) = ${show(got)}, want ${show(want)}`).toEqual(want);
  });
});

describe('digestOfBytes', () => {
  it.each([
    { name: 'the empty string', input: '', want: EMPTY },
    {
      name: 'the OCI empty JSON {} (C17)',
      input: '{}',
      want: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    },
    {
      name: 'NIST "abc"',
      input: 'abc',
      want: 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    },
    {
      name: 'NIST 448-bit message',
      input: 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      want: 'sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    },
    {
      name: 'NIST one million "a"',
      input: 'a'.repeat(1_000_000),
      want: 'sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    },
  ])('hashes $name', ({ input, want }) => {
    const got = digestOfBytes(enc(input));

    expect(got, `digestOfBytes(${show(input.slice(0, 60))}) = ${got}, want ${want}`).toBe(want);
    expect(isDigest(got), `isDigest(${got})`).toBe(true);
  });

  it.each([0, 1, 55, 56, 63, 64, 65, 4096, 100_003])(
    'agrees with node:crypto on %i random bytes',
    (length) => {
      const bytes = new Uint8Array(randomBytes(length));
      const got = digestOfBytes(bytes);
      const want = `sha256:${nodeSha256(bytes).toString('hex')}`;

      expect(got, `digestOfBytes(${length} random bytes) = ${got}, want ${want}`).toBe(want);
    },
  );
});

describe('digestHex, digestFromHex and digestBytes', () => {
  it('digestHex strips the algorithm', () => {
    expect(digestHex(EMPTY as Digest), `digestHex(${EMPTY})`).toBe(HEX);
  });

  it.each([
    { name: 'lower-case hex', input: HEX, want: { returned: EMPTY } },
    {
      name: 'upper-case hex',
      input: HEX.toUpperCase(),
      want: {
        code: 'DIGEST_INVALID',
        status: 400,
        message:
          `'sha256:${HEX.toUpperCase()}' is not a digest of the form ` +
          'sha256:<64 lowercase hex>',
      },
    },
    {
      name: 'short hex',
      input: 'abc',
      want: {
        code: 'DIGEST_INVALID',
        status: 400,
        message: "'sha256:abc' is not a digest of the form sha256:<64 lowercase hex>",
      },
    },
  ])('digestFromHex of $name', ({ input, want }) => {
    const got = outcome(() => digestFromHex(input));

    expect(got, `digestFromHex(${input}) = ${show(got)}, want ${show(want)}`).toEqual(want);
  });

  it.each(['', '{}', 'abc', 'hocker-edge'])('digestBytes is the raw sha256 of %j', (input) => {
    const bytes = enc(input);
    const got = digestBytes(digestOfBytes(bytes));
    const want = new Uint8Array(nodeSha256(bytes));

    expect(got.length, `digestBytes(...).length`).toBe(32);
    expect(got, `digestBytes(digestOfBytes(${show(input)}))`).toEqual(want);
  });

  it.each([
    `sha256:${'0'.repeat(64)}`,
    `sha256:${'f'.repeat(64)}`,
    `sha256:${'0123456789abcdef'.repeat(4)}`,
    EMPTY,
  ])('round-trips %s through its bytes', (input) => {
    const bytes = digestBytes(parseDigest(input));
    const back = `sha256:${Buffer.from(bytes).toString('hex')}`;

    expect(back, `hex(digestBytes(${input})) = ${back}`).toBe(input);
    expect(digestFromHex(Buffer.from(bytes).toString('hex')), 'digestFromHex(hex)').toBe(input);
  });
});
