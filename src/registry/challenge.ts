/**
 * `WWW-Authenticate` parsing (RFC 7235): one header may hold several challenges, parameters
 * come in any order, names are case-insensitive, and values are tokens or quoted strings that
 * may contain commas. Registries differ on all of these (ECR sends Basic, GCR once dropped
 * the quotes, some omit `service`), so this is a real parser, not a positional regex.
 */

/** One challenge: its scheme in lower case and its parameters with lower-case names. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** Parses a `WWW-Authenticate` value into its challenges; unparsable tails are dropped. */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;

  for (;;) {
    rest = rest.replace(/^[\s,]+/, '');
    const scheme = TOKEN.exec(rest)?.[0];
    if (scheme === undefined) return challenges;

    rest = rest.slice(scheme.length);
    const { params, remainder } = parseParams(rest);
    challenges.push({ scheme: scheme.toLowerCase(), params });
    rest = remainder;
  }
}

/** Reads `name=value` pairs until the next scheme (a token not followed by `=`). */
function parseParams(input: string): { params: Record<string, string>; remainder: string } {
  const params: Record<string, string> = {};
  let rest = input;

  for (;;) {
    const trimmed = rest.replace(/^[\s,]+/, '');
    const name = TOKEN.exec(trimmed)?.[0];
    if (name === undefined) return { params, remainder: trimmed };

    const afterName = trimmed.slice(name.length).replace(/^\s*/, '');
    if (!afterName.startsWith('=')) {
      // A token68 credential (`Basic abc==` is never sent by registries) or the next scheme.
      return { params, remainder: trimmed };
    }

    const value = readValue(afterName.slice(1).replace(/^\s*/, ''));
    params[name.toLowerCase()] = value.value;
    rest = value.remainder;
  }
}

function readValue(input: string): { value: string; remainder: string } {
  if (!input.startsWith('"')) {
    const token = /^[^\s,]*/.exec(input)?.[0] ?? '';
    return { value: token, remainder: input.slice(token.length) };
  }

  let value = '';
  for (let i = 1; i < input.length; i++) {
    const char = input[i];
    if (char === '\\' && i + 1 < input.length) {
      value += input[++i];
    } else if (char === '"') {
      return { value, remainder: input.slice(i + 1) };
    } else {
      value += char;
    }
  }
  return { value, remainder: '' };
}

/** The challenge to answer: Bearer when offered (it scopes access), else Basic, else none. */
export function preferredChallenge(challenges: Challenge[]): Challenge | undefined {
  return (
    challenges.find((challenge) => challenge.scheme === 'bearer') ??
    challenges.find((challenge) => challenge.scheme === 'basic')
  );
}
