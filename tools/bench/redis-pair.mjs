// A Redis primary with one replica for the REDIS_ACK_REPLICAS benchmark: Debian's redis-server on
// free local ports, no persistence, stopped by their PIDs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './system.mjs';

export async function startPrimaryWithReplica() {
  const dir = mkdtempSync(join(tmpdir(), 'afm-bench-redis-'));
  const [primary, replica] = [await freePort(), await freePort()];
  const start = (port, extra) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
      stdio: 'ignore',
    });
  const children = [start(primary, []), start(replica, ['--replicaof', '127.0.0.1', String(primary)])];
  const client = new Redis({ port: primary, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const info = await client.info('replication').catch(() => '');
    if (/connected_slaves:1/.test(info) && /state=online/.test(info)) break;
    if (Date.now() > deadline) throw new Error('the bench Redis replica did not come online');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  client.disconnect();
  return {
    url: `redis://127.0.0.1:${primary}/0`,
    async stop() {
      await Promise.all(children.map((child) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL')))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
