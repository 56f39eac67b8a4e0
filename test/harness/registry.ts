import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { freePort } from './ports';
import { makeTempDir, removeTempDir } from './temp';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server';
import { requireTool, runChecked } from './tools';
import { PUSHER, READER, USERS, type Credentials } from './users';

/** How a harness registry authenticates: not at all, Docker tokens, or htpasswd Basic. */
export type RegistryAuth = 'none' | 'token' | 'htpasswd';

/** Options for `startRegistry`. */
export interface RegistryOptions {
  auth: RegistryAuth;
  /** Seconds until the registry refuses a token (token mode only); 300 by default. */
  tokenLifetimeSeconds?: number;
}

/** A running CNCF distribution registry on 127.0.0.1. */
export interface StartedRegistry {
  /** `127.0.0.1:PORT`, as it appears in an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  auth: RegistryAuth;
  /** Present in token mode only. */
  tokenServer?: TokenServer;
  /** May push (and pull) everything; unused by an auth 'none' registry. */
  pushCredentials: Credentials;
  /** May pull everything, `private/` included, and push nothing. */
  readCredentials: Credentials;
  /** Stops the registry (and its token server) and removes its storage. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/**
 * Starts `docker-registry serve` on a free port with storage in a fresh temp dir, and resolves
 * once GET /v2/ answers. A registry that fails to start is stopped and its output reported.
 */
export async function startRegistry(opts: RegistryOptions): Promise<StartedRegistry> {
  // A free port can be taken by another suite's process before the registry binds it: then
  // it is tried again on another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRegistryOnce(opts);
    } catch (error) {
      const portTaken = String(error).includes('address already in use');
      if (!portTaken || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

const PORT_ATTEMPTS = 3;

async function startRegistryOnce(opts: RegistryOptions): Promise<StartedRegistry> {
  const binary = requireTool('docker-registry');
  const dir = await makeTempDir('registry');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let tokenServer: TokenServer | undefined;
  let daemon: Daemon | undefined;
  let stopped = false;
  // Idempotent: a test may stop its registry on purpose before afterAll stops it again.
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await daemon?.stop();
    await tokenServer?.stop();
    await removeTempDir(dir);
  };
  try {
    if (opts.auth === 'token') tokenServer = await startTokenServer(tokenOptions(opts));
    const configPath = join(dir, 'config.yml');
    const auth = await authSection(opts.auth, dir, tokenServer);
    await writeFile(configPath, registryConfig(dir, port, auth));
    daemon = startDaemon(binary, ['serve', configPath], dir);
    await waitUntilReady(url, daemon);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    host: `127.0.0.1:${port}`,
    url,
    auth: opts.auth,
    tokenServer,
    pushCredentials: PUSHER,
    readCredentials: READER,
    stop,
  };
}

function tokenOptions(opts: RegistryOptions): TokenServerOptions {
  const lifetimeSeconds = opts.tokenLifetimeSeconds;

  return lifetimeSeconds === undefined ? {} : { lifetimeSeconds };
}

// distribution reads YAML, and JSON is YAML: writing JSON spares us quoting rules.
function registryConfig(dir: string, port: number, auth: object | undefined): string {
  const config = {
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
    ...(auth === undefined ? {} : { auth }),
  };

  return `${JSON.stringify(config, null, 2)}\n`;
}

async function authSection(mode: RegistryAuth, dir: string, tokens: TokenServer | undefined) {
  if (mode === 'token' && tokens !== undefined) {
    const { realm, service, issuer, certPath } = tokens;
    return { token: { realm, service, issuer, rootcertbundle: certPath } };
  }
  if (mode === 'htpasswd') {
    return { htpasswd: { realm: 'hocker-edge-test', path: await writeHtpasswd(dir) } };
  }

  return undefined;
}

async function writeHtpasswd(dir: string): Promise<string> {
  const htpasswd = requireTool('htpasswd');
  const lines: string[] = [];
  for (const user of USERS) {
    // distribution accepts only bcrypt entries, hence -B.
    const result = await runChecked(htpasswd, ['-Bbn', user.username, user.password]);
    lines.push(result.stdout.trim());
  }
  const path = join(dir, 'auth', 'htpasswd');
  await mkdir(join(dir, 'auth'));
  await writeFile(path, `${lines.join('\n')}\n`);

  return path;
}

async function waitUntilReady(url: string, daemon: Daemon): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (daemon.exited()) throw startFailure('exited', daemon);
    if (await answersPing(url)) return;

    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  throw startFailure(`did not answer within ${READY_TIMEOUT_MS} ms`, daemon);
}

async function answersPing(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

function startFailure(what: string, daemon: Daemon): Error {
  return new Error(`docker-registry ${what} on start; its output:\n${daemon.output()}`);
}
