import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { runClient, type ClientResult } from './skopeo';
import { makeTempDir, removeTempDir } from './temp';
import type { Credentials } from './users';

/** One hosts.toml: pulls of `registry/...` go to the edge at `edgeUrl`. */
export interface ContainerdMirror {
  /** `host:port` as it appears in image references (and names the hosts.toml directory). */
  registry: string;
  /** `http://host:port` of the edge. */
  edgeUrl: string;
}

/**
 * The `<hosts-dir>/<registry>/hosts.toml` that sends pulls to the edge. containerd appends
 * `/v2/<repository>/...` to the host and adds `?ns=<registry>`, which is how the edge knows
 * the registry (C44). The registry's own `server` is a closed port here, so a pull can only
 * succeed through the edge; a real setup keeps the registry as `server`.
 */
export function containerdHostsToml(edgeUrl: string): string {
  return [
    'server = "http://127.0.0.1:9"',
    '',
    `[host."${edgeUrl}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n');
}

/** A containerd daemon of our own (temp root, state and socket) and `ctr` pointed at it. */
export interface Containerd {
  /** `ctr image pull` (fetches the host platform's image, and unpacks it). */
  pull(ref: string, opts?: { creds?: Credentials }): Promise<ClientResult>;
  /** `ctr content fetch --all-platforms`: every manifest and blob, nothing unpacked. */
  fetchAll(ref: string, opts?: { creds?: Credentials }): Promise<ClientResult>;
  /** The bytes containerd holds under `digest` (`ctr content get`); throws when it has none. */
  content(digest: string): Promise<Buffer>;
  /** The digest `ctr image ls` records for `ref`; throws when there is no such image. */
  imageDigest(ref: string): Promise<string>;
  /** The hosts directory, for the README and failure messages. */
  readonly hostsDir: string;
  /** Stops the daemon by its PID and removes its directories. */
  stop(): Promise<void>;
}

const CTR_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 20_000;
const NAMESPACE = 'hocker-edge-test';

/**
 * Whether containerd and ctr can run here: not without root (the tests then say why they are
 * skipped); as root they must, or this throws.
 */
export async function containerdUsable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root: containerd needs root' };

  // As root the tools must work: a broken one fails the suite loudly, it is never skipped.
  for (const cmd of ['containerd', 'ctr']) {
    const version = await runClient(cmd, ['--version'], { timeoutMs: 60_000 }).catch(
      (err: unknown) => {
        throw new Error(`${cmd} cannot start (apt-get install containerd): ${String(err)}`);
      },
    );
    if (version.code !== 0) {
      throw new Error(`${cmd} --version exited ${version.code}: ${version.stderr}`);
    }
  }

  return { ok: true };
}

/**
 * Starts `containerd` with a config of ours (everything under a fresh temp dir, the CRI
 * plugin off) and a hosts directory holding one hosts.toml per mirror; resolves once `ctr`
 * reaches it.
 */
export async function startContainerd(mirrors: readonly ContainerdMirror[]): Promise<Containerd> {
  const home = await makeTempDir('containerd');
  const address = join(home, 'containerd.sock');
  const hostsDir = join(home, 'certs.d');
  for (const { registry, edgeUrl } of mirrors) {
    await mkdir(join(hostsDir, registry), { recursive: true });
    await writeFile(join(hostsDir, registry, 'hosts.toml'), containerdHostsToml(edgeUrl));
  }
  const config = join(home, 'config.toml');
  await writeFile(config, daemonConfig(home, address));

  let daemon: Daemon | undefined;
  const stop = async () => {
    await daemon?.stop(10_000);
    await removeUnlessMounted(home);
  };
  const ctr = (args: string[]) =>
    runClient('ctr', ['--address', address, '--namespace', NAMESPACE, ...args], {
      timeoutMs: CTR_TIMEOUT_MS,
    });
  try {
    daemon = startDaemon('containerd', ['--config', config], home);
    await waitUntilReady(daemon, ctr);
  } catch (err) {
    await stop();
    throw err;
  }

  // ctr offers --user only after a 401 challenge, as containerd's resolver does.
  const remote = (creds?: Credentials) => [
    '--hosts-dir',
    hostsDir,
    ...(creds === undefined ? [] : ['--user', `${creds.username}:${creds.password}`]),
  ];
  return {
    pull: (ref, opts = {}) => ctr(['image', 'pull', ...remote(opts.creds), ref]),
    fetchAll: (ref, opts = {}) =>
      ctr(['content', 'fetch', '--all-platforms', ...remote(opts.creds), ref]),
    content: async (digest) => {
      const result = await ctr(['content', 'get', digest]);
      if (result.code !== 0) throw new Error(`ctr content get ${digest}: ${result.stderr}`);
      return result.stdout;
    },
    imageDigest: async (ref) => {
      const result = await ctr(['image', 'ls']);
      const row = result.stdout
        .toString('utf8')
        .split('\n')
        .map((line) => line.split(/\s+/))
        .find(([name]) => name === ref);
      if (row?.[2] === undefined) throw new Error(`ctr image ls has no ${ref}:\n${result.stdout}`);
      return row[2];
    },
    hostsDir,
    stop,
  };
}

// containerd writes to /var/lib/containerd, /run/containerd and /opt/containerd by default;
// every one of them is moved under `home`, so nothing of the machine's own is touched.
function daemonConfig(home: string, address: string): string {
  return [
    'version = 2',
    `root = "${join(home, 'root')}"`,
    `state = "${join(home, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(home, 'opt')}"`,
    '',
  ].join('\n');
}

async function waitUntilReady(daemon: Daemon, ctr: (args: string[]) => Promise<ClientResult>) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (daemon.exited()) throw new Error(`containerd exited on start:\n${daemon.output()}`);
    if ((await ctr(['version'])).code === 0) return;

    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  throw new Error(`containerd did not answer within ${READY_TIMEOUT_MS} ms:\n${daemon.output()}`);
}

// An unpack mounts snapshots only while it runs; should one stay mounted, removing the tree
// would reach into the mount, so the directory is left for a human instead.
async function removeUnlessMounted(home: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const inside = mounts.split('\n').filter((line) => line.split(' ')[1]?.startsWith(home));
  if (inside.length > 0) {
    throw new Error(`containerd left mounts under ${home}, not removing it:\n${inside.join('\n')}`);
  }

  await removeTempDir(home);
}
