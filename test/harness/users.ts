/** A username and password pair, as sent in HTTP Basic. */
export interface Credentials {
  username: string;
  password: string;
}

/** May push and pull every repository, on the token and the htpasswd registry. */
export const PUSHER: Credentials = { username: 'pusher', password: 'pusher-secret' };

/** May pull every repository, `private/` ones included, and push none. */
export const READER: Credentials = { username: 'reader', password: 'reader-secret' };

/**
 * Pulls like the reader. Named and spelled like a Harbor robot account: `$` in the name, and
 * `:`, `$$` and `%41` in the password, which a shell, template or URL decoder would mangle.
 */
export const ROBOT: Credentials = { username: 'robot$ci-pull', password: 'p:a$$w0rd%41' };

/** Every user the harness registries know. */
export const USERS: readonly Credentials[] = [PUSHER, READER, ROBOT];

/** The value of an `Authorization` header carrying `creds` as HTTP Basic. */
export function basicAuthorization(creds: Credentials): string {
  const pair = `${creds.username}:${creds.password}`;

  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}
