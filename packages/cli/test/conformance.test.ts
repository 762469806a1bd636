// docs/protocol.md black box: the conformance script (tools/conformance.mjs, written from SPEC.md alone) against
// the deployment shape of the invariants (README, Development) — two `slamon-afm run` replicas and one
// `slamon-afm worker` process — on each Redis mode (issue 13): one server, a Sentinel group (1 primary,
// 2 replicas, 3 sentinels) and a Cluster (3 primaries, 3 replicas), real servers started here.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentPattern } from '@afm/shared/dispatch/keys';
import { connectRedis, createRedis, primaries } from '@afm/shared/redis';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { startRedisCluster, startSentinelGroup } from '@afm/shared/testing/redis-servers';
import { freePort, spawnReplica, spawnWorker, type AfmProcess } from './support/topology.js';

const SCRIPT = fileURLToPath(new URL('../../../tools/conformance.mjs', import.meta.url));

const MODES = {
  'one server': async () => ({ env: {}, close: async () => undefined }),
  'a Sentinel group': () => startSentinelGroup(),
  'a Cluster': () => startRedisCluster(),
};

describe.each(Object.keys(MODES) as (keyof typeof MODES)[])('docs/protocol.md conformance (black box) on %s', (mode) => {
  let servers: Awaited<ReturnType<(typeof MODES)[typeof mode]>>;
  let env: TestEnv;
  const processes: AfmProcess[] = [];
  let urls: string[];

  beforeAll(async () => {
    servers = await MODES[mode]();
    env = await createTestEnv('conformance', servers.env);
    const replicas = await Promise.all([spawnReplica(env.config, await freePort()), spawnReplica(env.config, await freePort())]);
    processes.push(...replicas, spawnWorker(env.config));
    urls = replicas.map((replica) => replica.url);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(processes.map((proc) => proc.kill('SIGTERM')));
    await env?.cleanup();
    await servers?.close();
  });

  it('passes every check against two replicas and a worker', async () => {
    const result = await promisify(execFile)(process.execPath, [SCRIPT, ...urls], { timeout: 120_000 }).catch((error) => error);
    const output: string = result.stdout ?? '';
    const failures = output.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures).toEqual([]);
    expect(output).toMatch(/\d+ passed, 0 failed/);

    // The deployment's keys are on this mode's servers: in a cluster all on one primary (one hash tag).
    const redis = createRedis(env.config, 'client');
    await connectRedis(redis);
    try {
      const counts = await Promise.all(
        primaries(redis).map(async (node) => (await node.keys(deploymentPattern(env.config.QUEUE_PREFIX))).length),
      );
      expect(counts.filter((n) => n > 0)).toHaveLength(1);
      expect(Math.max(...counts)).toBeGreaterThan(50);
    } finally {
      await redis.quit();
    }
  }, 150_000);
});
