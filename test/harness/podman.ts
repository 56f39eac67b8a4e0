import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runClient, type ClientResult } from './skopeo';
import { makeTempDir, removeTempDir } from './temp';
import type { Credentials } from './users';

/** One registries.conf rule: pulls of `registry/...` go to the edge at `edgeHost`. */
export interface PodmanMirror {
  /** `host:port` as it appears in image references. */
  registry: string;
  /** `host:port` of the edge; the edge speaks plain HTTP here. */
  edgeHost: string;
}

/**
 * The registries.conf that makes podman pull `registry/...` from the edge. The registry's
 * own location is a closed port, so a pull can only succeed through the mirror (podman would
 * otherwise fall back to the registry and hide a failing edge). A real setup keeps
 * `location = registry`, and drops `insecure` for an https edge.
 */
export function podmanRegistriesConf(mirrors: readonly PodmanMirror[]): string {
  const rules = mirrors.map(({ registry, edgeHost }) =>
    [
      '[[registry]]',
      `prefix = "${registry}"`,
      'location = "127.0.0.1:9"',
      '',
      '[[registry.mirror]]',
      `location = "${edgeHost}"`,
      'insecure = true',
    ].join('\n'),
  );

  return `unqualified-search-registries = []\n\n${rules.join('\n\n')}\n`;
}

/** A podman with storage, run state and registries.conf of its own; no daemon is involved. */
export interface Podman {
  /**
   * `podman pull`. With `login`, the auth file holds those credentials for every edge host
   * (what `podman login EDGE` writes): containers/image never sends `--creds` to a mirror,
   * only credentials stored for the mirror's own host.
   */
  pull(image: string, opts?: { login?: Credentials }): Promise<ClientResult>;
  /** `podman load -i archive`: what `podman load` makes of a docker archive. */
  load(archive: string): Promise<ClientResult>;
  /** `podman image inspect --format TEMPLATE image`, trimmed; throws when podman fails. */
  inspect(image: string, template: string): Promise<string>;
  /** The podman command line used, for failure messages and the README. */
  readonly command: string;
  cleanup(): Promise<void>;
}

const PODMAN_TIMEOUT_MS = 90_000;

/**
 * Whether podman can run here: not without root (the tests then say why they are skipped); as
 * root it must, or this throws.
 */
export async function podmanUsable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'not root (rootless podman needs subuids set up)' };
  }

  // As root podman must work: a broken one fails the suite loudly, it is never skipped.
  const version = await runClient('podman', ['--version'], { timeoutMs: 60_000 }).catch(
    (err: unknown) => {
      throw new Error(`podman cannot start (apt-get install podman): ${String(err)}`);
    },
  );
  if (version.code !== 0) {
    throw new Error(`podman --version exited ${version.code}: ${version.stderr.trim()}`);
  }
  return { ok: true };
}

/**
 * Prepares podman with everything in a fresh temp dir: the `vfs` storage driver (plain
 * copies, so nothing stays mounted after a test), cgroupfs and file events (no systemd).
 */
export async function preparePodman(mirrors: readonly PodmanMirror[]): Promise<Podman> {
  const home = await makeTempDir('podman');
  const conf = join(home, 'registries.conf');
  await writeFile(conf, podmanRegistriesConf(mirrors));
  await mkdir(join(home, 'tmp'));
  // A login stored on this machine must not decide the outcome: auth files of our own.
  const anonymous = join(home, 'auth.json');
  await writeFile(anonymous, authFileText(mirrors, undefined));
  const loggedIn = join(home, 'auth-login.json');
  const global = [
    '--root',
    join(home, 'root'),
    '--runroot',
    join(home, 'run'),
    '--tmpdir',
    join(home, 'libpod'),
    '--storage-driver',
    'vfs',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
  ];
  // TMPDIR is where podman stages image downloads (by default /var/tmp).
  const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: conf, TMPDIR: join(home, 'tmp') };
  const podman = (args: string[]) =>
    runClient('podman', [...global, ...args], { timeoutMs: PODMAN_TIMEOUT_MS, env });

  return {
    pull: async (image, opts = {}) => {
      let authFile = anonymous;
      if (opts.login !== undefined) {
        await writeFile(loggedIn, authFileText(mirrors, opts.login));
        authFile = loggedIn;
      }
      return await podman(['pull', '--quiet', '--authfile', authFile, image]);
    },
    load: async (archive) => await podman(['load', '--quiet', '--input', archive]),
    inspect: async (image, template) => {
      const result = await podman(['image', 'inspect', '--format', template, image]);
      if (result.code !== 0) throw new Error(`podman image inspect ${image}: ${result.stderr}`);
      return result.stdout.toString('utf8').trim();
    },
    command: `CONTAINERS_REGISTRIES_CONF=${conf} podman ${global.join(' ')}`,
    cleanup: () => removeTempDir(home),
  };
}

// containers-auth.json(5): `auths` maps a registry host to base64 of `user:password`.
function authFileText(mirrors: readonly PodmanMirror[], login: Credentials | undefined): string {
  const auths: Record<string, { auth: string }> = {};
  if (login !== undefined) {
    const auth = Buffer.from(`${login.username}:${login.password}`, 'utf8').toString('base64');
    for (const { edgeHost } of mirrors) auths[edgeHost] = { auth };
  }

  return `${JSON.stringify({ auths }, null, 2)}\n`;
}
