import { PUSHER, READER, ROBOT } from './users';

/** One entry of a registry token's `access` claim. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Parses one scope, `type:name:actions` (`repository:org/app:pull,push`), or null when
 * malformed. The name sits between the first and the last colon, so it may hold a colon.
 */
export function parseScope(scope: string): AccessEntry | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return null;

  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((action) => action !== '');

  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

/**
 * The actions `user` (null: anonymous) is granted out of those requested: anonymous callers
 * pull, except under `private/`; the reader and the robot pull everything; the pusher pulls
 * and pushes.
 */
export function grantedActions(user: string | null, entry: AccessEntry): string[] {
  if (entry.type !== 'repository') return [];

  const allowed = allowedActions(user, entry.name);

  return entry.actions.filter((action) => allowed.includes(action));
}

function allowedActions(user: string | null, name: string): string[] {
  if (user === PUSHER.username) return ['pull', 'push'];
  if (user === READER.username || user === ROBOT.username) return ['pull'];
  if (name.startsWith('private/')) return [];

  return ['pull'];
}
