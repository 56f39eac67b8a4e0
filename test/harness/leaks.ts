import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EDGE_OUTPUT_LIMIT, type StartedEdge } from './edge';

/**
 * Where in the edge's output and local KV/R2 files (read as bytes) any of `secrets` occurs,
 * as `<place>: <secret>` lines; empty when nowhere. Throws when the output was too long to
 * have been kept whole, since a search of its tail alone would prove nothing.
 */
export async function secretsKeptBy(edge: StartedEdge, secrets: readonly string[]) {
  const output = edge.output();
  if (output.length >= EDGE_OUTPUT_LIMIT) {
    throw new Error(`edge output reached ${EDGE_OUTPUT_LIMIT} bytes; its beginning is lost`);
  }

  const places = [{ name: 'edge output', bytes: Buffer.from(output, 'utf8') }];
  for (const file of await filesUnder(edge.stateDir)) {
    places.push({ name: file, bytes: await readFile(file) });
  }

  return places.flatMap(({ name, bytes }) =>
    secrets.filter((secret) => bytes.includes(secret)).map((secret) => `${name}: ${secret}`),
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });

  const files = entries.filter((entry) => entry.isFile());

  return files.map((entry) => join(entry.parentPath, entry.name));
}
