import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates a fresh, empty directory under the system temp dir; its name starts with `label`. */
export function makeTempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `hocker-edge-${label}-`));
}

/** Removes a directory made by `makeTempDir` with everything in it; a missing one is fine. */
export function removeTempDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
