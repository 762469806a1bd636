import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.base.ts';

// The fault tests run on their own (`npm run test:faults`): they stop and kill shared processes.
export default mergeConfig(base, defineConfig({ test: { exclude: ['test/faults/**', 'node_modules/**'] } }));
