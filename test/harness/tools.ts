import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// The Debian package that provides each command the harness runs, for the error message.
const PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  umoci: 'umoci',
  htpasswd: 'apache2-utils',
  busybox: 'busybox-static',
  openssl: 'openssl',
  nix: 'nix-bin',
  'nix-build': 'nix-bin',
  'nix-hash': 'nix-bin',
  'nix-prefetch-url': 'nix-bin',
  'nix-store': 'nix-bin',
  zstd: 'zstd',
};

/**
 * Returns the absolute path of command `name` found on PATH, or throws a loud Error that
 * names the Debian package to install. A missing tool must fail a test, never skip it.
 */
export function requireTool(name: string): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }

  const pkg = PACKAGES[name] ?? name;
  throw new Error(`${name} is missing: \`npm test\` installs it (apt-get install ${pkg})`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What a finished command printed and its exit code (null when a signal ended it). */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Options for `run`: working directory, environment, and bytes to write to stdin. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Uint8Array;
}

/**
 * Runs `cmd` with `args` (no shell) and resolves with its output once it exits, whatever the
 * exit code; rejects only when the command cannot be started.
 */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
      });
    });
    child.stdin.end(opts.input);
  });
}

/** Runs a command like `run` and throws, with its stderr, unless it exits with code 0. */
export async function runChecked(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) {
    const line = [cmd, ...args].join(' ');
    throw new Error(`${line} exited with ${result.code}: ${result.stderr.trim()}`);
  }

  return result;
}
