/**
 * Which code a benchmark measured: the commit, and whether the worker's sources differed
 * from it (others may be editing them while it runs).
 */
import { execFileSync } from 'node:child_process';
import { ROOT } from './launch';

/** `<short commit>`, with `+ uncommitted changes in src/` when there are any. */
export function describeRevision(): string {
  const commit = git(['rev-parse', '--short', 'HEAD']);
  if (commit === null) return 'unknown (no git)';

  const changed = git(['status', '--porcelain', '--', 'src', 'wrangler.toml', 'scripts']);
  const count = changed === null || changed === '' ? 0 : changed.split('\n').length;

  return count === 0 ? commit : `${commit} + uncommitted changes in ${count} source files`;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return null;
  }
}
