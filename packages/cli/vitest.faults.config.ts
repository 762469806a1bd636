/** `npm run test:faults`: the fault tests (issue 8) one file at a time — each kills parts of a live system. */
import { defineConfig } from 'vitest/config';
import base from '../../vitest.base.ts';

// Spread, not mergeConfig: merging would add the default `include` to this one.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/faults/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
  },
});
