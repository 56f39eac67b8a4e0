import { createServer } from 'node:net';

/**
 * Resolves with a TCP port on 127.0.0.1 that was free a moment ago. The operating system
 * picks it; another process could still take it before the caller binds it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected address ${String(address)}`));
        return;
      }

      server.close(() => resolve(address.port));
    });
  });
}
