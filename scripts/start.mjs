#!/usr/bin/env node
// Runs the worker locally on workerd with its embedded KV and R2 (see README.md).
//
// This is `wrangler dev` without the devtools inspector: the CLI always turns the inspector
// on, and with it streamed upstream bodies open thousands of loopback connections and crawl
// (measured in TOOLCHAIN.md). wrangler's own `unstable_startWorker` runs the same bundle and
// runtime with the inspector off.
//
// workerd listens on a private loopback port behind a small TCP front on the public one. The
// front exists for one reason: containers/image (skopeo, podman) always tries TLS first, and
// workerd answers a TLS hello with silence until its header timeout, so every command waited
// 10 s before falling back to plain HTTP. The front closes such a connection at once and
// passes everything else through untouched. `--no-front` serves straight from workerd, as
// the benchmark does: deployed, Cloudflare's own front end is the one in between.
import { createConnection, createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { unstable_startWorker } from 'wrangler';

const READY_TIMEOUT_MS = 60_000;
const USAGE =
  'usage: npm start -- [--port N] [--ip ADDR] [--persist-to DIR] [--var KEY:VALUE ...]' +
  ' [--config wrangler.toml] [--no-front]';

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8787' },
      ip: { type: 'string', default: '127.0.0.1' },
      'persist-to': { type: 'string' },
      // Another worker's wrangler.toml: the benchmark's bare-put worker starts the same way.
      config: { type: 'string', default: new URL('../wrangler.toml', import.meta.url).pathname },
      var: { type: 'string', multiple: true, default: [] },
      'no-front': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`bad --port ${values.port}`);

  const vars = {};
  for (const pair of values.var) {
    const colon = pair.indexOf(':');
    if (colon <= 0) throw new Error(`--var takes KEY:VALUE, got '${pair}'`);
    vars[pair.slice(0, colon)] = { type: 'plain_text', value: pair.slice(colon + 1) };
  }
  return {
    port,
    ip: values.ip,
    persist: values['persist-to'],
    vars,
    config: values.config,
    front: !values['no-front'],
  };
}

// Nothing here may reach outside the machine: miniflare would otherwise download a sample
// `Request.cf` object from Cloudflare at start, and wrangler would report usage metrics.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
process.env.WRANGLER_SEND_METRICS = 'false';

async function main() {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    console.error(`${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (!options.front) {
    try {
      await ensureFree(options.ip, options.port);
    } catch (error) {
      cannotListen(options, error);
    }
  }

  const worker = await unstable_startWorker({
    config: options.config,
    bindings: options.vars,
    sendMetrics: false,
    dev: {
      remote: false,
      inspector: false,
      watch: false,
      persist: options.persist ?? '.wrangler/state',
      server: options.front
        ? { hostname: '127.0.0.1', port: 0 }
        : { hostname: options.ip, port: options.port },
      logLevel: 'log',
    },
  });
  // A worker that cannot bind its port logs a fatal error but never becomes ready: give up
  // loudly rather than run on without listening.
  const ready = await Promise.race([
    worker.ready.then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), READY_TIMEOUT_MS).unref()),
  ]);
  if (!ready) {
    console.error(`hocker-edge did not start within ${READY_TIMEOUT_MS / 1000} s (port in use?)`);
    // Disposing a worker that never started can hang too; do not wait for it long.
    const disposed = worker.dispose().catch(() => undefined);
    await Promise.race([disposed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    process.exit(1);
  }
  const inner = await worker.url;
  let front = null;
  if (options.front) {
    try {
      front = await listenFront(options.ip, options.port, Number(inner.port));
    } catch (error) {
      await worker.dispose().catch(() => undefined);
      cannotListen(options, error);
    }
  }
  // wrangler prints its own "Ready on" line with workerd's private port: name ours plainly.
  const behind =
    front === null ? '' : ` (use this one: workerd listens behind it on ${inner.host})`;
  console.log(`hocker-edge ready on ${front === null ? inner.origin : originOf(front)}${behind}`);

  const stop = async () => {
    front?.close();
    await worker.dispose();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function originOf(server) {
  const { address, port } = server.address();
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function cannotListen(options, error) {
  console.error(`hocker-edge cannot listen on ${options.ip}:${options.port}: ${error.message}`);
  process.exit(1);
}

// The first byte of a TLS ClientHello (a handshake record).
const TLS_HANDSHAKE = 0x16;
// A connection that sends nothing is closed after this long, as workerd itself does.
const FIRST_BYTE_TIMEOUT_MS = 15_000;

/** Listens on ip:port and hands each plain-HTTP connection to the worker on innerPort. */
function listenFront(ip, port, innerPort) {
  // Half-open connections stay open: a client may send its request and shut its side at
  // once (nc -N, HTTP/1.0 tools), and still wait for the answer.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    let relaying = false;
    client.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => client.destroy());
    client.on('error', () => client.destroy());
    client.once('end', () => {
      if (!relaying) client.end();
    });
    client.once('data', (first) => {
      client.setTimeout(0);
      if (first[0] === TLS_HANDSHAKE) {
        client.destroy();
        return;
      }
      relaying = true;
      client.pause();
      relay(client, first, innerPort);
    });
  });

  return listening(server, ip, port);
}

// Both directions are piped, ends included, so a half-close passes through to workerd.
function relay(client, first, innerPort) {
  const worker = createConnection({ host: '127.0.0.1', port: innerPort, allowHalfOpen: true });
  worker.once('connect', () => {
    worker.write(first);
    client.pipe(worker);
    worker.pipe(client);
  });
  worker.on('error', () => client.destroy());
  worker.on('close', (hadError) => {
    if (hadError) client.destroy();
  });
  client.on('close', () => worker.destroy());
}

function listening(server, ip, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

/** Throws unless ip:port can be listened on (workerd alone would only log that it cannot). */
async function ensureFree(ip, port) {
  const probe = await listening(createServer(), ip, port);
  await new Promise((resolve) => probe.close(resolve));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
