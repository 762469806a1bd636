/**
 * Test settings shared by every package. Tests resolve sibling packages to their TypeScript sources
 * (the `source` export condition), so they never run against a stale build.
 */
import { defineConfig } from 'vitest/config';

/** Vite's default server conditions, with `source` first. */
const conditions = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Test files run in parallel; each isolates itself with its own database and Redis prefix.
    pool: 'forks',
    // clipanion's extension-less `main` resolves to an .mjs build that Node cannot load directly.
    server: { deps: { inline: ['clipanion'] } },
  },
});
