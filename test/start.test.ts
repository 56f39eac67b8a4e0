/**
 * `npm start` (scripts/start.mjs): the worker behind a small TCP front that turns a TLS hello
 * away at once (skopeo and podman try TLS first and used to wait 10 s for workerd's silence),
 * passes plain HTTP through with its Host intact, and exits loudly when its port is taken.
 */
import { createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEdge, type StartedEdge } from './harness/edge';
import { freePort } from './harness/ports';
import { makeTempDir, removeTempDir } from './harness/temp';
import { run } from './harness/tools';

const ROOT = new URL('..', import.meta.url).pathname;
let edge: StartedEdge;

beforeAll(async () => {
  edge = await startEdge({ registries: ['http://127.0.0.1:9'] });
});

afterAll(async () => {
  await edge?.stop({ keepState: false });
});

it('turns a TLS hello away at once instead of leaving it to time out', async () => {
  const { port } = new URL(edge.url);
  const outcome = await new Promise<string>((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false });
    socket.on('secureConnect', () => resolve('handshake completed'));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.setTimeout(8_000, () => resolve('timed out'));
  });

  // Before the front, workerd kept the connection silent until skopeo's 10 s timeout.
  expect(outcome).toBe('ECONNRESET');
});

it('passes plain HTTP through, so generated URLs name the port the caller used', async () => {
  const response = await fetch(`${edge.url}/`);
  const text = await response.text();

  expect(response.status).toBe(200);
  expect(text).toContain(`curl ${edge.url}/nix/debian:bookworm`);
});

it('exits 1 and says so when its port is taken', async () => {
  const port = await freePort();
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  const state = await makeTempDir('start-test');
  try {
    const args = ['scripts/start.mjs', '--port', String(port), '--persist-to', state];
    const result = await run(process.execPath, args, { cwd: ROOT });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`hocker-edge cannot listen on 127.0.0.1:${port}: `);
    expect(result.stderr).toContain('EADDRINUSE');
  } finally {
    blocker.close();
    await removeTempDir(state);
  }
});
