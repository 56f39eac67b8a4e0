/**
 * `npm start` (scripts/start.mjs): the worker behind a small TCP front that turns a TLS hello
 * away at once (skopeo and podman try TLS first and used to wait 10 s for workerd's silence),
 * passes plain HTTP through with its Host intact (half-closed connections too), drops
 * connections that never send a byte, and exits loudly when its port is taken.
 */
import { connect, createServer, type Server } from 'node:net';
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

it('answers a client that shuts its side right after sending the request', async () => {
  const { port } = new URL(edge.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.end('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });

  expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  expect(answer).toContain('"code":"UNAUTHORIZED"');
});

it('closes a connection that sends nothing, as workerd would', { timeout: 30_000 }, async () => {
  const { port } = new URL(edge.url);
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.on('close', () => resolve('closed'));
    socket.on('error', () => undefined);
    setTimeout(() => resolve('still open after 25 s'), 25_000).unref();
  });

  expect(outcome).toBe('closed');
});

it.each([
  { mode: 'with its front', flags: [] },
  { mode: '--no-front', flags: ['--no-front'] },
])('exits 1 and says so when its port is taken ($mode)', async ({ flags }) => {
  const port = await freePort();
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  const state = await makeTempDir('start-test');
  try {
    const args = ['scripts/start.mjs', ...flags, '--port', String(port), '--persist-to', state];
    const result = await run(process.execPath, args, { cwd: ROOT });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`hocker-edge cannot listen on 127.0.0.1:${port}: `);
    expect(result.stderr).toContain('EADDRINUSE');
  } finally {
    blocker.close();
    await removeTempDir(state);
  }
});
