// docs/protocol.md black box: the conformance script (tools/conformance.mjs, written from SPEC.md alone) against
// the deployment shape of the invariants (README, Development) — two `slamon-afm run` replicas and one `slamon-afm worker` process.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { freePort, spawnReplica, spawnWorker, type AfmProcess } from './support/topology.js';

const SCRIPT = fileURLToPath(new URL('../../../tools/conformance.mjs', import.meta.url));

let env: TestEnv;
const processes: AfmProcess[] = [];
let urls: string[];

beforeAll(async () => {
  env = await createTestEnv('conformance');
  const replicas = await Promise.all([spawnReplica(env.config, await freePort()), spawnReplica(env.config, await freePort())]);
  processes.push(...replicas, spawnWorker(env.config));
  urls = replicas.map((replica) => replica.url);
});
afterAll(async () => {
  await Promise.all(processes.map((proc) => proc.kill('SIGTERM')));
  await env.cleanup();
});

describe('docs/protocol.md conformance (black box)', () => {
  it('passes every check against two replicas and a worker', async () => {
    const result = await promisify(execFile)(process.execPath, [SCRIPT, ...urls], { timeout: 120_000 }).catch((error) => error);
    const output: string = result.stdout ?? '';
    const failures = output.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures).toEqual([]);
    expect(output).toMatch(/\d+ passed, 0 failed/);
  }, 150_000);
});
