/**
 * The deployable bundle always builds (`wrangler deploy --dry-run`), and wrangler.toml keeps
 * the settings production depends on.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from './harness/temp';
import { run } from './harness/tools';

const ROOT = new URL('..', import.meta.url).pathname;
let outdir: string;

beforeAll(async () => {
  outdir = await makeTempDir('dist');
});

afterAll(async () => {
  await removeTempDir(outdir);
});

it('wrangler deploy --dry-run bundles the worker', async () => {
  const wrangler = join(ROOT, 'node_modules/.bin/wrangler');
  const result = await run(wrangler, ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });

  expect(result.code, result.stderr + result.stdout).toBe(0);
  expect(result.stdout).toContain('env.RECORDS');
  expect(result.stdout).toContain('env.BLOBS');
  const bundle = await stat(join(outdir, 'index.js'));
  expect(bundle.size).toBeGreaterThan(10_000);
});

it('pins a compatibility date that honours custom ports on subrequests (2024-09-02+)', async () => {
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml)?.[1];

  expect(date).toBeDefined();
  expect(date! >= '2024-09-02').toBe(true);
});

it('tells the worker the same subrequest limit that [limits] asks of the platform', async () => {
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  const platform = /^\[limits\][^[]*?^subrequests\s*=\s*(\d+)/m.exec(toml)?.[1];
  const worker = /^SUBREQUEST_LIMIT\s*=\s*"(\d+)"/m.exec(toml)?.[1];

  expect(platform).toBe('10000');
  expect(worker).toBe(platform);
});
