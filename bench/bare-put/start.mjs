#!/usr/bin/env node
// Runs the bare-put worker exactly as scripts/start.mjs runs the edge: wrangler's
// unstable_startWorker, inspector off, local R2 under --persist-to, so that the two workers'
// memory compares like for like. Prints `bare-put ready on <origin>` once it answers.
import { parseArgs } from 'node:util';
import { unstable_startWorker } from 'wrangler';

// As in scripts/start.mjs: nothing may reach outside the machine.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
process.env.WRANGLER_SEND_METRICS = 'false';

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8789' },
      'persist-to': { type: 'string', default: '.wrangler/bench-bare-put' },
    },
  });

  const worker = await unstable_startWorker({
    config: new URL('./wrangler.toml', import.meta.url).pathname,
    sendMetrics: false,
    dev: {
      remote: false,
      inspector: false,
      watch: false,
      persist: values['persist-to'],
      server: { hostname: '127.0.0.1', port: Number(values.port) },
      logLevel: 'log',
    },
  });
  await worker.ready;
  console.log(`bare-put ready on ${(await worker.url).origin}`);

  const stop = async () => {
    await worker.dispose();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
