import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest, type BuiltBlob } from './blob';
import type { FixtureImage } from './fixtures';
import type { BuiltManifest } from './image-builder';
import { makeTempDir, removeTempDir } from './temp';
import { requireTool } from './tools';
import type { Credentials } from './users';

/** What a container client printed (stdout as bytes: it may be a manifest) and its exit. */
export interface ClientResult {
  stdout: Buffer;
  stderr: string;
  /** Null when a signal ended it, e.g. after `timedOut`. */
  code: number | null;
  timedOut: boolean;
}

/** Options for `runClient`. */
export interface ClientRunOptions {
  /** SIGKILL after this long; a hung client must not hang the suite. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a container client (skopeo, podman, ctr) without a shell and resolves once it exits,
 * whatever its exit code; a client still running after `timeoutMs` is killed by its PID.
 */
export function runClient(
  cmd: string,
  args: readonly string[],
  opts: ClientRunOptions,
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString('utf8');
      resolve({
        stdout: Buffer.concat(stdout),
        stderr: timedOut ? `${err}\n(killed after ${opts.timeoutMs} ms)` : err,
        code,
        timedOut,
      });
    });
  });
}

/**
 * Options for one skopeo command that reads from a registry. The edge speaks plain HTTP, so
 * TLS verification is always off (skopeo then tries https first and falls back to http).
 */
export interface SkopeoReadOptions {
  /** Sent only after a challenge at `/v2/` (see TOOLCHAIN.md). */
  creds?: Credentials;
}

/** skopeo with a private, empty configuration, so nothing on the machine changes its answers. */
export interface Skopeo {
  /** `skopeo inspect --raw`: the manifest bytes on stdout. */
  inspectRaw(image: string, opts?: SkopeoReadOptions): Promise<ClientResult>;
  /** `skopeo inspect` (which also lists the repository's tags): JSON on stdout. */
  inspect(image: string, opts?: SkopeoReadOptions): Promise<ClientResult>;
  /** `skopeo copy` to `dest` (`dir:PATH` or `oci:PATH:TAG`); `all` copies every image of a list. */
  copy(
    image: string,
    dest: string,
    opts?: SkopeoReadOptions & { all?: boolean },
  ): Promise<ClientResult>;
  /** A new path in skopeo's temp dir for a copy to create (and `cleanup` to remove). */
  newPath(label: string): string;
  cleanup(): Promise<void>;
}

const SKOPEO_TIMEOUT_MS = 90_000;

/**
 * Prepares skopeo with an empty registries.conf, an empty auth file (so no login stored on
 * the machine is ever used) and no signature policy, all in a fresh temp dir.
 */
export async function prepareSkopeo(): Promise<Skopeo> {
  const binary = requireTool('skopeo');
  const home = await makeTempDir('skopeo');
  const registriesConf = join(home, 'registries.conf');
  await writeFile(registriesConf, '');
  const authFile = join(home, 'auth.json');
  await writeFile(authFile, '{"auths":{}}\n');
  const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf, TMPDIR: home };
  // An image chosen from a list is linux/amd64 on any machine, as the fixtures expect.
  const global = ['--insecure-policy', '--override-os', 'linux', '--override-arch', 'amd64'];
  global.push('--tmpdir', home);
  let paths = 0;

  const skopeo = (args: string[]) =>
    runClient(binary, [...global, ...args], { timeoutMs: SKOPEO_TIMEOUT_MS, env });
  const source = (creds: Credentials | undefined, prefix: string) => [
    `--${prefix}tls-verify=false`,
    `--${prefix}authfile`,
    authFile,
    ...(creds === undefined ? [] : [`--${prefix}creds`, `${creds.username}:${creds.password}`]),
  ];

  return {
    inspectRaw: (image, opts = {}) =>
      skopeo(['inspect', '--raw', ...source(opts.creds, ''), image]),
    inspect: (image, opts = {}) => skopeo(['inspect', ...source(opts.creds, ''), image]),
    copy: (image, dest, opts = {}) => {
      // --preserve-digests makes skopeo fail rather than quietly convert a manifest.
      const all = opts.all === true ? ['--all', '--preserve-digests'] : [];
      return skopeo(['copy', ...all, ...source(opts.creds, 'src-'), image, dest]);
    },
    newPath: (label) => {
      paths += 1;
      return join(home, `${label}-${paths}`);
    },
    cleanup: () => removeTempDir(home),
  };
}

/** `docker://HOST:PORT/repository:reference` (or `@digest`) for an image behind `url`. */
export function dockerImage(url: string, repository: string, reference: string): string {
  const host = new URL(url).host;
  const separator = reference.startsWith('sha256:') ? '@' : ':';

  return `docker://${host}/${repository}${separator}${reference}`;
}

/** What a `skopeo copy` wrote: the top manifest's digest, and every file by its digest. */
export interface CopiedImage {
  topDigest: string;
  /** `sha256:<hex>` (from the file name, or computed for `manifest.json`) -> the bytes. */
  files: Map<string, Buffer>;
}

const HEX_NAME = /^([0-9a-f]{64})(\.manifest\.json)?$/;

/**
 * Reads a `dir:` copy: `manifest.json` is the top manifest, `<hex>` a blob and, with `--all`,
 * `<hex>.manifest.json` one image's manifest. Any other file than `version` is an error.
 */
export async function readDirCopy(dir: string): Promise<CopiedImage> {
  const files = new Map<string, Buffer>();
  let topDigest: string | undefined;
  for (const name of await readdir(dir)) {
    const bytes = await readFile(join(dir, name));
    const hex = HEX_NAME.exec(name)?.[1];
    if (name === 'manifest.json') {
      topDigest = sha256Digest(bytes);
      files.set(topDigest, bytes);
    } else if (hex !== undefined) {
      files.set(`sha256:${hex}`, bytes);
    } else if (name !== 'version') {
      throw new Error(`readDirCopy: unexpected file ${name} in ${dir}`);
    }
  }
  if (topDigest === undefined) throw new Error(`readDirCopy: no manifest.json in ${dir}`);

  return { topDigest, files };
}

/** Reads an `oci:` layout: the one manifest `index.json` names, and every file in blobs/. */
export async function readOciCopy(dir: string): Promise<CopiedImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  if (index.manifests.length !== 1) {
    throw new Error(`readOciCopy: index.json lists ${index.manifests.length} manifests, want 1`);
  }
  const files = new Map<string, Buffer>();
  const blobDir = join(dir, 'blobs', 'sha256');
  for (const name of await readdir(blobDir)) {
    files.set(`sha256:${name}`, await readFile(join(blobDir, name)));
  }

  return { topDigest: index.manifests[0]!.digest, files };
}

/**
 * The files a faithful copy of `image` holds, by digest: with `all`, the top manifest, every
 * image manifest (attestations too) and every blob; without, one image and its blobs.
 */
export function expectedFiles(image: FixtureImage, all: boolean): Map<string, Uint8Array> {
  const manifests: BuiltManifest[] = all
    ? [...image.manifests, ...image.attestations]
    : [image.manifests[0]!];
  const files = new Map<string, Uint8Array>();
  if (all) files.set(image.top.digest, image.top.bytes);
  for (const manifest of manifests) {
    files.set(manifest.digest, manifest.bytes);
    for (const blob of [manifest.config, ...manifest.layers]) {
      files.set(blob.digest, blobBytes(blob));
    }
  }

  return files;
}

function blobBytes(blob: BuiltBlob): Uint8Array {
  if (blob.bytes === undefined) throw new Error(`expectedFiles: ${blob.digest} is on disk only`);

  return blob.bytes;
}
