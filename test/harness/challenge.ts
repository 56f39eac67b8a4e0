/** The first challenge of a `WWW-Authenticate` header: its scheme and parameters. */
export interface Challenge {
  /** Lower-cased: 'bearer' or 'basic'. */
  scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>;
}

/**
 * Parses the first challenge of a `WWW-Authenticate` header, e.g.
 * `Bearer realm="http://h/token",service="s",scope="repository:a:pull"`, or null when empty.
 * Quoted values may hold commas and escaped quotes.
 */
export function parseChallenge(header: string | undefined): Challenge | null {
  const match = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header ?? '');
  if (match?.[1] === undefined) return null;

  const params: Record<string, string> = {};
  const param = /\s*([\w-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*(,|$)/gy;
  const rest = match[2] ?? '';
  for (let m = param.exec(rest); m !== null && m[0] !== ''; m = param.exec(rest)) {
    const value = m[3] === undefined ? (m[2] ?? '') : m[3].replace(/\\(.)/g, '$1');
    params[(m[1] ?? '').toLowerCase()] = value;
    if (m[4] === '') break;
  }

  return { scheme: match[1].toLowerCase(), params };
}
