import { defineConfig } from 'vitest/config';

// Tests run in Node: the pure modules are imported directly, and everything that needs the
// Workers runtime goes through a real workerd started by the harness (see test/harness/).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Each suite starts its own registries and worker; two at a time fits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default', './test/harness/closing-line.ts'],
  },
});
