import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool, runChecked } from './tools';

/**
 * Runs Debian's Nix (nix-bin 2.8) offline as root: every command gets a private
 * NIX_CONF_DIR whose nix.conf needs no build users, no sandbox and no binary cache, so a
 * test never reaches the network and never depends on /etc/nix. A missing Nix fails the
 * test loudly; it is never a reason to skip.
 */

// Builds run as the calling root user instead of switching to nixbld users, without the
// sandbox (Debian's /etc/nix/nix.conf says it does not work there), and with no substituter,
// so that cache.nixos.org is never asked for anything.
const NIX_CONF = ['build-users-group =', 'sandbox = false', 'substituters ='].join('\n') + '\n';

// nix-hash takes any number of hashes; batches keep each command line well under ARG_MAX.
const BATCH = 256;

let confDir: string | null = null;

/** The process environment plus a private NIX_CONF_DIR (made once per process). */
export function nixEnv(): NodeJS.ProcessEnv {
  const dir = privateDir();

  // NIX_USER_CONF_FILES replaces ~/.config/nix/nix.conf, which could re-enable substituters.
  return { ...process.env, NIX_CONF_DIR: dir, NIX_USER_CONF_FILES: join(dir, 'nix.conf') };
}

/** `nix-hash --type sha256 --to-base32` of each 64-hex sha256, in order. */
export async function nixHash32(hexes: readonly string[]): Promise<string[]> {
  return batched(hexes, (batch) => ['nix-hash', '--type', 'sha256', '--to-base32', ...batch]);
}

/** `nix hash to-sri` of each 64-hex sha256 (`sha256-<base64>`), in order. */
export async function nixToSri(hexes: readonly string[]): Promise<string[]> {
  return batched(hexes, (batch) => [
    'nix',
    '--extra-experimental-features',
    'nix-command',
    'hash',
    'to-sri',
    ...batch.map((hex) => `sha256:${hex}`),
  ]);
}

/** Options for `nixInstantiateEval`. */
export interface EvalOptions {
  /** `--arg name expr` pairs: when the text is a function, it is called with these. */
  args?: Record<string, string>;
}

/**
 * Evaluates Nix source text deeply (`nix-instantiate --eval --strict --json`) from a file and
 * returns the value as parsed JSON; rejects with Nix's error text when evaluation fails.
 */
export async function nixInstantiateEval(
  text: string,
  options: EvalOptions = {},
): Promise<unknown> {
  const file = await nixExprFile(text);
  const args = Object.entries(options.args ?? {}).flatMap(([name, expr]) => ['--arg', name, expr]);

  const { stdout } = await nix('nix-instantiate', ['--eval', '--strict', '--json', file, ...args]);
  return JSON.parse(stdout) as unknown;
}

/** Writes Nix source text to a fresh file in the private Nix directory and returns its path. */
export async function nixExprFile(text: string, name = 'default.nix'): Promise<string> {
  const dir = await mkdtemp(join(privateDir(), 'expr-'));
  const file = join(dir, name);
  await writeFile(file, text);

  return file;
}

/**
 * `nix-build --no-out-link FILE ...args` (args such as `-A config` or `--arg fetchurl EXPR`);
 * resolves with the store paths built, rejects with Nix's error text (a wrong hash reads
 * "hash mismatch in fixed-output derivation").
 */
export async function nixBuild(exprFile: string, args: readonly string[] = []): Promise<string[]> {
  const { stdout } = await nix('nix-build', ['--no-out-link', exprFile, ...args]);

  return stdout.split('\n').filter((line) => line !== '');
}

/**
 * `nix-prefetch-url --type sha256 URL`: the Nix base32 flat sha256 of what the URL serves.
 * Pass `name` for a URL whose last segment is not a valid store name: Nix names the store
 * path after it, and `blobs/sha256:<hex>` fails with "contains illegal character ':'".
 */
export async function nixPrefetchUrl(url: string, name?: string): Promise<string> {
  const named = name === undefined ? [] : ['--name', name];
  const { stdout } = await nix('nix-prefetch-url', ['--type', 'sha256', ...named, url]);
  const lines = stdout.trim().split('\n');

  return lines[lines.length - 1]!;
}

async function batched(
  hexes: readonly string[],
  command: (batch: readonly string[]) => string[],
): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; start < hexes.length; start += BATCH) {
    const batch = hexes.slice(start, start + BATCH);
    const [cmd, ...args] = command(batch) as [string, ...string[]];
    const lines = (await nix(cmd, args)).stdout.split('\n').filter((line) => line !== '');
    if (lines.length !== batch.length) {
      throw new Error(`${cmd} printed ${lines.length} hashes for ${batch.length} inputs`);
    }
    out.push(...lines);
  }

  return out;
}

function nix(cmd: string, args: readonly string[]): ReturnType<typeof runChecked> {
  return runChecked(requireNix(cmd), args, { env: nixEnv() });
}

function requireNix(cmd: string): string {
  try {
    return requireTool(cmd);
  } catch {
    throw new Error(`nix-bin is missing: \`npm test\` installs it (no ${cmd} on PATH)`);
  }
}

// The private directory: nix.conf and the expression files tests write.
function privateDir(): string {
  confDir ??= makeConfDir();

  return confDir;
}

const DIR_PREFIX = 'hocker-edge-nix-';

function makeConfDir(): string {
  removeOrphanDirs();

  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  writeFileSync(join(dir, 'nix.conf'), NIX_CONF);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

  return dir;
}

// vitest ends its worker processes without an 'exit' event, so each new directory also
// removes those left by processes that no longer run (the pid is in the name; /proc is
// there on the Linux machines Debian's nix-bin runs on).
function removeOrphanDirs(): void {
  const owned = new RegExp(`^${DIR_PREFIX}(\\d+)-`);
  for (const name of readdirSync(tmpdir())) {
    const pid = owned.exec(name)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}
