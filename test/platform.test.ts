import { describe, expect, it } from 'vitest';
import { EdgeError } from '../src/errors';
import {
  availablePlatforms,
  choosePlatform,
  formatPlatform,
  nixSystem,
  parsePlatform,
  SUPPORTED_PLATFORMS,
  type IndexEntry,
  type Platform,
} from '../src/registry/platform';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

// Entries are named by a short hex string; their digests sort the way the names do.
const digestOf = (name: string) => `sha256:${name.padEnd(64, '0')}`;
const nameOf = new Map<string, string>();

/** An image index entry for `os/arch[/variant]` (no platform for null) named `name`. */
function entry(platform: string | null, name: string, extra: Partial<IndexEntry> = {}): IndexEntry {
  nameOf.set(digestOf(name), name);
  const base = { mediaType: OCI_MANIFEST, digest: digestOf(name) };
  if (platform === null) return { ...base, ...extra };

  const [os = '', architecture = '', variant] = platform.split('/');
  const parsed = variant === undefined ? { os, architecture } : { os, architecture, variant };
  return { ...base, platform: parsed, ...extra };
}

const attestation = (name: string, of: string): IndexEntry =>
  entry('unknown/unknown', name, {
    annotations: {
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': digestOf(of),
    },
  });

/** The name of the entry chosen for `wanted`, or null. */
function chosen(entries: readonly IndexEntry[], wanted: string): string | null {
  const got = choosePlatform(entries, parsePlatform(wanted));

  return got === null ? null : (nameOf.get(got.digest) ?? got.digest);
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('parsePlatform', () => {
  it.each<{ input: string; want: Platform }>([
    { input: 'linux/amd64', want: { os: 'linux', architecture: 'amd64' } },
    { input: 'linux/arm64', want: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { input: 'linux/arm64/v8', want: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { input: 'linux/arm/v7', want: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { input: 'linux/arm/v6', want: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { input: 'linux/arm', want: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { input: 'linux/386', want: { os: 'linux', architecture: '386' } },
    { input: 'linux/s390x', want: { os: 'linux', architecture: 's390x' } },
    { input: ' Linux/AMD64 ', want: { os: 'linux', architecture: 'amd64' } },
    { input: 'linux/x86_64', want: { os: 'linux', architecture: 'amd64' } },
    { input: 'linux/aarch64', want: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { input: 'linux/armhf', want: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { input: 'linux/arm/6', want: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    // C09: Nix systems map to OCI names.
    { input: 'x86_64-linux', want: { os: 'linux', architecture: 'amd64' } },
    { input: 'aarch64-linux', want: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { input: 'armv7l-linux', want: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { input: 'armv6l-linux', want: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { input: 'i686-linux', want: { os: 'linux', architecture: '386' } },
    { input: 'powerpc64le-linux', want: { os: 'linux', architecture: 'ppc64le' } },
    { input: 'riscv64-linux', want: { os: 'linux', architecture: 'riscv64' } },
    { input: 's390x-linux', want: { os: 'linux', architecture: 's390x' } },
    { input: 'x86_64-darwin', want: { os: 'darwin', architecture: 'amd64' } },
    { input: 'aarch64-darwin', want: { os: 'darwin', architecture: 'arm64', variant: 'v8' } },
  ])('parses $input', ({ input, want }) => {
    const got = parsePlatform(input);

    expect(
      got,
      `parsePlatform(${input}) = ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
    ).toEqual(want);
  });

  it.each([
    '',
    'amd64',
    'x86_64',
    'linux',
    'linux/',
    '/amd64',
    'linux//amd64',
    'linux/amd64/v1/x',
    'linux/amd 64',
    'linux/$(x)',
    'x86_64-windows',
    'sparc-linux',
  ])('rejects %j with UNSUPPORTED and the supported list', (input) => {
    let got: unknown;
    try {
      parsePlatform(input);
    } catch (error) {
      got = error;
    }

    expect(got, `parsePlatform(${JSON.stringify(input)}) threw ${String(got)}`).toBeInstanceOf(
      EdgeError,
    );
    const error = got as EdgeError;
    expect([error.code, error.status]).toEqual(['UNSUPPORTED', 400]);
    expect(error.message).toContain(`platform '${input}' is not supported`);
    expect(error.detail).toEqual({ supported: SUPPORTED_PLATFORMS });
  });

  // Indexes list platforms Nix has no name for; a user can still ask for them by OCI name.
  it.each([
    { input: 'linux/amd64/v3', want: { os: 'linux', architecture: 'amd64', variant: 'v3' } },
    { input: 'windows/amd64', want: { os: 'windows', architecture: 'amd64' } },
    { input: 'linux/mips', want: { os: 'linux', architecture: 'mips' } },
  ])('accepts the well-formed OCI platform $input', ({ input, want }) => {
    const got = parsePlatform(input);

    expect(got, `parsePlatform(${input}) = ${JSON.stringify(got)}`).toEqual(want);
    expect(nixSystem(got)).toBeNull();
  });

  it('accepts every value it lists as supported', () => {
    const rejected = SUPPORTED_PLATFORMS.filter((value) => {
      try {
        parsePlatform(value);
        return false;
      } catch {
        return true;
      }
    });

    expect(rejected, 'supported values that parsePlatform rejects').toEqual([]);
    expect(SUPPORTED_PLATFORMS).toContain('aarch64-linux');
    expect(SUPPORTED_PLATFORMS).toContain('linux/arm64/v8');
  });
});

describe('formatPlatform and nixSystem', () => {
  it.each([
    { input: 'aarch64-linux', oci: 'linux/arm64/v8', system: 'aarch64-linux' },
    { input: 'linux/arm64', oci: 'linux/arm64/v8', system: 'aarch64-linux' },
    { input: 'linux/amd64', oci: 'linux/amd64', system: 'x86_64-linux' },
    { input: 'linux/arm/v7', oci: 'linux/arm/v7', system: 'armv7l-linux' },
    { input: 'armv6l-linux', oci: 'linux/arm/v6', system: 'armv6l-linux' },
    { input: 'i686-linux', oci: 'linux/386', system: 'i686-linux' },
    { input: 'linux/ppc64le', oci: 'linux/ppc64le', system: 'powerpc64le-linux' },
    { input: 'x86_64-darwin', oci: 'darwin/amd64', system: 'x86_64-darwin' },
  ])('$input is $oci and $system', ({ input, oci, system }) => {
    const platform = parsePlatform(input);

    expect(formatPlatform(platform), `formatPlatform(parsePlatform(${input}))`).toBe(oci);
    expect(nixSystem(platform), `nixSystem(parsePlatform(${input}))`).toBe(system);
  });

  it.each<{ platform: Platform; want: string | null }>([
    { platform: { os: 'linux', architecture: 'arm64' }, want: 'aarch64-linux' },
    { platform: { os: 'linux', architecture: 'arm' }, want: 'armv7l-linux' },
    { platform: { os: 'linux', architecture: 'x86_64' }, want: 'x86_64-linux' },
    { platform: { os: 'windows', architecture: 'amd64' }, want: null },
    { platform: { os: 'linux', architecture: 'mips' }, want: null },
    { platform: { os: 'linux', architecture: 'amd64', variant: 'v3' }, want: null },
  ])('nixSystem($platform) = $want', ({ platform, want }) => {
    expect(nixSystem(platform), `nixSystem(${JSON.stringify(platform)})`).toBe(want);
  });
});

describe('choosePlatform', () => {
  // C09: an index that names platforms the OCI way, asked for with Nix system names.
  const C09 = [
    entry('linux/amd64', 'a1'),
    entry('linux/arm64/v8', 'a2'),
    entry('linux/arm/v7', 'a3'),
    entry('linux/386', 'a4'),
    entry('linux/ppc64le', 'a5'),
  ];

  it.each([
    { wanted: 'x86_64-linux', want: 'a1' },
    { wanted: 'aarch64-linux', want: 'a2' },
    { wanted: 'armv7l-linux', want: 'a3' },
    { wanted: 'i686-linux', want: 'a4' },
    { wanted: 'powerpc64le-linux', want: 'a5' },
    { wanted: 'armv6l-linux', want: null },
    { wanted: 's390x-linux', want: null },
    { wanted: 'x86_64-darwin', want: null },
  ])('C09: $wanted picks $want', ({ wanted, want }) => {
    const got = chosen(C09, wanted);

    expect(got, `choosePlatform(C09, ${wanted}) = ${got}, want ${want}`).toBe(want);
  });

  it.each([
    // C11 (a): arm64 without a variant is v8.
    {
      name: 'C11 (a)',
      entries: [entry('linux/arm64', 'b1')],
      wanted: 'linux/arm64/v8',
      want: 'b1',
    },
    // C11 (b) and (c): a v6 request gets v6 whichever entry comes first.
    {
      name: 'C11 (b)',
      entries: [entry('linux/arm/v7', 'b7'), entry('linux/arm/v6', 'b6')],
      wanted: 'linux/arm/v6',
      want: 'b6',
    },
    {
      name: 'C11 (c)',
      entries: [entry('linux/arm/v6', 'b6'), entry('linux/arm/v7', 'b7')],
      wanted: 'linux/arm/v6',
      want: 'b6',
    },
    {
      name: 'arm64/v8 entry for a bare linux/arm64 request',
      entries: [entry('linux/arm64/v8', 'b8')],
      wanted: 'linux/arm64',
      want: 'b8',
    },
    {
      name: 'v7 request without v7: the highest lower variant',
      entries: [entry('linux/arm/v5', 'b5'), entry('linux/arm/v6', 'b6')],
      wanted: 'linux/arm/v7',
      want: 'b6',
    },
    {
      name: 'v7 request: exact variant first',
      entries: ['v5', 'v7', 'v6'].map((v) => entry(`linux/arm/${v}`, `b${v.slice(1)}`)),
      wanted: 'armv7l-linux',
      want: 'b7',
    },
    {
      name: 'v6 request never gets v7',
      entries: [entry('linux/arm/v7', 'b7'), entry('linux/arm64', 'b8')],
      wanted: 'linux/arm/v6',
      want: null,
    },
    {
      name: 'v5 request never gets v6',
      entries: [entry('linux/arm/v6', 'b6')],
      wanted: 'armv5tel-linux',
      want: null,
    },
    {
      name: 'an arm entry without variant counts as v7',
      entries: [entry('linux/arm', 'b0')],
      wanted: 'linux/arm/v6',
      want: null,
    },
    {
      name: 'an arm entry without variant serves v7',
      entries: [entry('linux/arm', 'b0')],
      wanted: 'linux/arm/v7',
      want: 'b0',
    },
    {
      name: 'numeric variants are read as vN',
      entries: [entry('linux/arm/6', 'b6')],
      wanted: 'linux/arm/v7',
      want: 'b6',
    },
    {
      name: 'arm64 never takes 32-bit arm',
      entries: [entry('linux/arm/v7', 'b7')],
      wanted: 'linux/arm64',
      want: null,
    },
    {
      name: 'amd64 never takes a higher level',
      entries: [entry('linux/amd64/v3', 'c3')],
      wanted: 'linux/amd64',
      want: null,
    },
    {
      name: 'amd64 prefers the baseline',
      entries: [entry('linux/amd64/v2', 'c2'), entry('linux/amd64', 'c1')],
      wanted: 'linux/amd64',
      want: 'c1',
    },
    {
      name: 'aliased architectures in an entry',
      entries: [entry('linux/x86_64', 'c1'), entry('linux/aarch64', 'c8')],
      wanted: 'aarch64-linux',
      want: 'c8',
    },
    {
      name: 'equal platforms: the smallest digest',
      entries: [entry('linux/amd64', 'f2'), entry('linux/amd64', 'f1'), entry('linux/amd64', 'f3')],
      wanted: 'linux/amd64',
      want: 'f1',
    },
    {
      name: 'equal arm64 levels: the smallest digest',
      entries: [entry('linux/arm64/v8', 'e2'), entry('linux/arm64', 'e1')],
      wanted: 'linux/arm64/v8',
      want: 'e1',
    },
    {
      name: 'an unlevelled architecture prefers an entry without a variant',
      entries: [entry('linux/riscv64/rva22', 'd1'), entry('linux/riscv64', 'd2')],
      wanted: 'riscv64-linux',
      want: 'd2',
    },
    { name: 'an empty index', entries: [], wanted: 'linux/amd64', want: null },
  ])('$name', ({ entries, wanted, want }) => {
    for (const order of permutations(entries)) {
      const got = chosen(order, wanted);
      const listed = order.map((e) => formatPlatform(e.platform!)).join(', ');

      expect(got, `choosePlatform([${listed}], ${wanted}) = ${got}, want ${want}`).toBe(want);
    }
  });

  // C12: BuildKit attestations; C52: a Helm chart and other non-images in the same index.
  const MIXED = [
    attestation('99', 'a1'),
    entry('linux/amd64', 'a1'),
    attestation('98', 'a2'),
    entry('linux/arm64', 'a2'),
    entry(null, '97', { artifactType: 'application/vnd.cncf.helm.config.v1+json' }),
    entry('linux/amd64', '00', { artifactType: 'application/vnd.cncf.helm.config.v1+json' }),
    entry('linux/amd64', '01', {
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    }),
    entry('linux/amd64', '02', { mediaType: 'application/vnd.oci.image.index.v1+json' }),
    entry('linux/amd64', '03', { mediaType: 'application/vnd.in-toto+json' }),
    entry('linux/s390x', '04', { artifactType: 'application/vnd.oci.image.config.v1+json' }),
    entry('linux/ppc64le', '05', { mediaType: DOCKER_MANIFEST }),
  ];

  it.each([
    { wanted: 'linux/amd64', want: 'a1' },
    { wanted: 'linux/arm64/v8', want: 'a2' },
    { wanted: 's390x-linux', want: '04' },
    { wanted: 'powerpc64le-linux', want: '05' },
  ])('C12/C52: $wanted skips attestations and artifacts and picks $want', ({ wanted, want }) => {
    for (const order of [MIXED, [...MIXED].reverse()]) {
      const got = chosen(order, wanted);

      expect(got, `choosePlatform(mixed, ${wanted}) = ${got}, want ${want}`).toBe(want);
    }
  });

  it('C12: an index of attestations alone offers nothing', () => {
    const entries = [attestation('99', 'a1'), attestation('98', 'a2')];

    expect(choosePlatform(entries, { os: 'unknown', architecture: 'unknown' })).toBeNull();
    expect(availablePlatforms(entries)).toEqual([]);
  });
});

describe('availablePlatforms', () => {
  it('lists image platforms sorted and once each, without attestations or artifacts', () => {
    const entries = [
      entry('linux/s390x', 'a1'),
      attestation('99', 'a1'),
      entry('linux/arm/v7', 'a2'),
      entry('linux/amd64', 'a3'),
      entry('linux/amd64', 'a4'),
      entry('linux/arm64', 'a5'),
      entry('linux/aarch64/8', 'a6'),
      entry(null, '97', { artifactType: 'application/vnd.cncf.helm.config.v1+json' }),
    ];

    const got = availablePlatforms(entries);
    const want = ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'linux/arm64/v8', 'linux/s390x'];
    expect(got, `availablePlatforms(entries) = ${got.join(', ')}, want ${want.join(', ')}`).toEqual(
      want,
    );
  });
});
