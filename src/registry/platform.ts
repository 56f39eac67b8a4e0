/**
 * Platforms: what a user asks for (`linux/arm64/v8` or the Nix system `aarch64-linux`), and
 * which entry of an image index answers it. Both naming styles are accepted on input and
 * only OCI names are kept (C09); arm variants match by compatibility, never by entry order
 * (C11); attestations and non-image artifacts are never chosen (C12, C52).
 */
import { fail } from '../errors';
import { IMAGE_CONFIG_TYPES } from './manifest';

/** An OCI platform, as in an image index: `{ os: 'linux', architecture: 'arm', variant }`. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** One entry of an image index or manifest list, as far as platform choice needs it. */
export interface IndexEntry {
  readonly mediaType: string;
  readonly digest: string;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
}

// The platforms a Nix system names; the OCI side is what image indexes write.
const NIX_SYSTEMS: readonly (readonly [system: string, platform: Platform])[] = [
  ['x86_64-linux', { os: 'linux', architecture: 'amd64' }],
  ['aarch64-linux', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ['armv7l-linux', { os: 'linux', architecture: 'arm', variant: 'v7' }],
  ['armv6l-linux', { os: 'linux', architecture: 'arm', variant: 'v6' }],
  ['armv5tel-linux', { os: 'linux', architecture: 'arm', variant: 'v5' }],
  ['i686-linux', { os: 'linux', architecture: '386' }],
  ['powerpc64le-linux', { os: 'linux', architecture: 'ppc64le' }],
  ['riscv64-linux', { os: 'linux', architecture: 'riscv64' }],
  ['s390x-linux', { os: 'linux', architecture: 's390x' }],
  ['mips64el-linux', { os: 'linux', architecture: 'mips64le' }],
  ['x86_64-darwin', { os: 'darwin', architecture: 'amd64' }],
  ['aarch64-darwin', { os: 'darwin', architecture: 'arm64', variant: 'v8' }],
];

const PLATFORM_OF_SYSTEM = new Map(NIX_SYSTEMS);
const SYSTEM_OF_PLATFORM = new Map(NIX_SYSTEMS.map(([system, p]) => [formatPlatform(p), system]));

// Spellings seen in the wild (uname, Debian, old manifests) for the OCI architectures;
// containerd's platforms.Normalize reads them the same way.
const ARCHITECTURE_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  i386: '386',
  i686: '386',
};
// Debian's names for the 32-bit arm ABIs also fix the variant.
const ARM_ABI_ALIASES: Readonly<Record<string, { architecture: 'arm'; variant: string }>> = {
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

// Architectures whose variants are CPU levels, and the level an absent variant means. A CPU
// runs code built for its own level or any lower one: an arm64 entry without a variant is
// v8 (C11 a), a 32-bit arm one v7 (as containerd reads it), an amd64 one the baseline v1.
const IMPLIED_VARIANT: Readonly<Record<string, string>> = { arm64: 'v8', arm: 'v7', amd64: 'v1' };

// The variant written out when a user names arm64 or arm without one, so that `linux/arm64`
// and `linux/arm64/v8` are one platform with one cache key.
const CANONICAL_VARIANT: Readonly<Record<string, string>> = { arm64: 'v8', arm: 'v7' };

// What an index entry must be to be run: an image manifest (not a nested index) whose
// artifact, when it names one, is a container image (C52).
const IMAGE_MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
/** Every platform spelling `parsePlatform` accepts, OCI names first, then Nix systems. */
export const SUPPORTED_PLATFORMS: readonly string[] = [
  ...new Set([
    ...NIX_SYSTEMS.map(([, platform]) => formatPlatform(platform)),
    'linux/arm64',
    'linux/arm',
    'darwin/arm64',
  ]),
]
  .sort()
  .concat(NIX_SYSTEMS.map(([system]) => system));

/**
 * Parses `os/architecture[/variant]` or a Nix system (`aarch64-linux`) into a canonical OCI
 * platform: arm64 always carries `v8` and a bare `linux/arm` means `v7`. Anything not in
 * `SUPPORTED_PLATFORMS` (up to case and common architecture aliases such as `x86_64`)
 * throws a 400 `UNSUPPORTED` whose detail lists the supported values.
 */
export function parsePlatform(input: string): Platform {
  const text = input.trim().toLowerCase();
  const parsed = text.includes('/') ? parseOciPlatform(text) : PLATFORM_OF_SYSTEM.get(text);

  // Any well-formed OCI platform may be asked for (indexes list windows/amd64 and
  // linux/amd64/v3 too); a Nix system must be one this module knows.
  const platform = parsed === undefined ? undefined : canonicalPlatform(parsed);
  if (platform === undefined) {
    throw fail.unsupported(
      `platform '${input}' is not supported: use an OCI platform such as linux/arm64/v8 ` +
        'or a Nix system such as aarch64-linux',
      { supported: SUPPORTED_PLATFORMS },
      400,
    );
  }

  return platform;
}

/** `os/architecture[/variant]`, the way docker's `--platform` writes it. */
export function formatPlatform(platform: Platform): string {
  const { os, architecture, variant } = platform;

  return variant === undefined ? `${os}/${architecture}` : `${os}/${architecture}/${variant}`;
}

/** The Nix system that runs `platform` natively (`aarch64-linux`), or null when Nix has none. */
export function nixSystem(platform: Platform): string | null {
  return SYSTEM_OF_PLATFORM.get(formatPlatform(canonicalPlatform(platform))) ?? null;
}

/**
 * The index entry to use for `wanted`, or null when none fits. Only image manifests with a
 * real platform take part: attestations, `unknown/unknown`, nested indexes and artifacts
 * (charts, signatures) are skipped. os and architecture must be equal; for arm, arm64 and
 * amd64 an entry's variant may be the wanted CPU level or a lower one, never a higher one.
 * The result does not depend on entry order. Ties are broken by, in turn: the highest
 * compatible variant; for architectures without levels, an entry without a variant when
 * none was asked for; the smallest digest.
 */
export function choosePlatform<E extends IndexEntry>(
  entries: readonly E[],
  wanted: Platform,
): E | null {
  const want = normalisePlatform(wanted);
  let best: { entry: E; score: number } | null = null;

  for (const entry of entries) {
    const score = isImageEntry(entry) ? matchScore(normalisePlatform(entry.platform), want) : null;
    if (score === null) continue;

    if (best === null || isBetter(score, entry, best.score, best.entry)) best = { entry, score };
  }

  return best?.entry ?? null;
}

/** The distinct platforms an index offers images for, formatted and sorted. */
export function availablePlatforms(entries: readonly IndexEntry[]): string[] {
  const platforms = entries
    .filter(isImageEntry)
    .map((entry) => formatPlatform(normalisePlatform(entry.platform)));

  return [...new Set(platforms)].sort();
}

function parseOciPlatform(text: string): Platform | undefined {
  const parts = text.split('/');
  if (parts.length > 3 || parts.some((part) => !/^[a-z0-9][a-z0-9._-]*$/.test(part))) {
    return undefined;
  }

  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

// Aliases and spellings resolved, variants as `vN`, and an absent arm or arm64 variant made
// explicit: the one form that is printed and used as a key.
function canonicalPlatform(platform: Platform): Platform {
  const normal = normalisePlatform(platform);
  const variant = normal.variant ?? CANONICAL_VARIANT[normal.architecture];

  return variant === undefined ? normal : { ...normal, variant };
}

// Aliases and spellings resolved, but an absent variant left absent: what an index says.
function normalisePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  const raw = platform.architecture.toLowerCase();
  const alias = ARM_ABI_ALIASES[raw];
  const architecture = alias?.architecture ?? ARCHITECTURE_ALIASES[raw] ?? raw;
  const variant = normaliseVariant(platform.variant) ?? alias?.variant;

  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

// Indexes write variants as `v7`, but `7` and `V7` occur; an empty variant means none.
function normaliseVariant(variant: string | undefined): string | undefined {
  if (variant === undefined || variant === '') return undefined;

  const lower = variant.toLowerCase();
  return /^\d/.test(lower) ? `v${lower}` : lower;
}

function isImageEntry(entry: IndexEntry): entry is IndexEntry & { platform: Platform } {
  const platform = entry.platform;
  if (platform === undefined || platform.os === '' || platform.architecture === '') return false;
  if (platform.os === 'unknown' || platform.architecture === 'unknown') return false;

  // BuildKit lists one attestation manifest per image, under `unknown/unknown` and this
  // annotation; the annotation alone is enough to leave it out.
  if (entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return false;

  if (entry.artifactType !== undefined && !IMAGE_CONFIG_TYPES.has(entry.artifactType)) return false;

  return IMAGE_MANIFEST_TYPES.has(entry.mediaType);
}

// Higher is better; null means the entry cannot run on the wanted platform.
function matchScore(entry: Platform, want: Platform): number | null {
  if (entry.os !== want.os || entry.architecture !== want.architecture) return null;

  const implied = IMPLIED_VARIANT[want.architecture];
  if (implied === undefined) return unlevelledScore(entry.variant, want.variant);

  const entryVariant = entry.variant ?? implied;
  const wantVariant = want.variant ?? implied;
  const entryLevel = cpuLevel(entryVariant);
  const wantLevel = cpuLevel(wantVariant);

  // A variant that is not a CPU level (`v8-custom`) can only match itself.
  if (entryLevel === null || wantLevel === null) return entryVariant === wantVariant ? 0 : null;

  return entryLevel <= wantLevel ? entryLevel : null;
}

function unlevelledScore(entry: string | undefined, want: string | undefined): number | null {
  if (want !== undefined) return entry === want ? 1 : null;

  return entry === undefined ? 1 : 0;
}

// `v7` -> 700, `v8.2` -> 802: comparable CPU levels.
function cpuLevel(variant: string): number | null {
  const match = /^v(\d+)(?:\.(\d+))?$/.exec(variant);
  if (match === null) return null;

  return Number(match[1]) * 100 + Number(match[2] ?? 0);
}

function isBetter(score: number, entry: IndexEntry, bestScore: number, best: IndexEntry): boolean {
  if (score !== bestScore) return score > bestScore;

  return entry.digest < best.digest;
}
