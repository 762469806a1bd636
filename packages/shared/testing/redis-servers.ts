/**
 * Real Redis topologies for tests, started from Debian's `redis-server` on free local ports and stopped
 * by their PIDs: a Sentinel group (one primary, replicas, sentinels) and a Cluster (primaries with a
 * replica each). Tests kill the primary that holds a deployment and watch AFM follow the promotion.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { keySlot } from '../src/redis.js';
import { waitFor } from './wait.js';

const SERVER = process.env.AFM_TEST_REDIS_SERVER ?? 'redis-server';
const CLI = process.env.AFM_TEST_REDIS_CLI ?? 'redis-cli';

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Where the kernel's ephemeral ports start: below it no outgoing connection takes a port between the
 * check that it is free and the server's bind (a redis-server exits 1, "Address already in use").
 */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768; // not Linux: its usual range
  }
}

/**
 * Free ports whose cluster bus ports (+10000) are free too, both below the ephemeral range. Another
 * test process may still draw the same port at once: the topologies start again on new ports then.
 */
export async function freePorts(count: number): Promise<number[]> {
  const low = 10_000;
  const high = Math.max(ephemeralLow() - 10_000, low + 5_000);
  const ports: number[] = [];
  while (ports.length < count) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (ports.includes(port) || !(await portIsFree(port)) || !(await portIsFree(port + 10_000))) continue;
    ports.push(port);
  }
  return ports;
}

/** A redis-server that stopped before it answered; `portTaken` when its log says the port was in use. */
export class RedisStartError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

const START_ATTEMPTS = 3;

/** Runs `start` (which draws its own ports) again while a port it drew was taken before its server bound it. */
export async function onFreePorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof RedisStartError && error.portTaken) || attempt === START_ATTEMPTS) throw error;
    }
  }
}

/** The last `lines` lines of a text. */
const lastLines = (text: string, lines: number) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** What a server printed to stdout and stderr that is kept (before its log file opens, e.g. a bad argument). */
const OUTPUT_KEPT = 4_000;

/** One redis-server process this test started (and only it stops). */
export class RedisNode {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private spawnError: Error | undefined;
  private output = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    /** Where it logs (dataArgs: redis.log in its directory). */
    readonly logFile = join(dir, 'redis.log'),
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && !this.spawnError && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const child = spawn(SERVER, this.args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.child = child;
    this.spawnError = undefined;
    this.output = '';
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-OUTPUT_KEPT));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', (error) => resolve((this.spawnError = error)));
    });
    const probe = this.client();
    let settled = false;
    const ready = waitFor(
      async () => {
        if (settled) return true;
        if (probe.status !== 'ready') await probe.connect().catch(() => probe.disconnect());
        // This server's own process: a server of another test on the port (this one could not bind it) must not pass for it.
        return (await probe.info('server')).includes(`process_id:${child.pid}\r\n`);
      },
      { timeoutMs: 15_000, what: `redis-server on port ${this.port}` },
    );
    try {
      // A server that stopped ends the wait at once: its log says why.
      await Promise.race([ready, this.exited]);
    } catch (error) {
      throw new RedisStartError(`${(error as Error).message}\n${await this.logTail()}`, false);
    } finally {
      settled = true;
      probe.disconnect();
    }
    if (!this.running) {
      const log = await this.logTail();
      // Set by the error handler, which narrowing does not see.
      const how = (this.spawnError as Error | undefined)?.message ?? `exited with ${child.exitCode ?? child.signalCode}`;
      throw new RedisStartError(`redis-server on port ${this.port} ${how} at start\n${log}`, log.includes('Address already in use'));
    }
  }

  /** The end of its log file and of its output, for a failure message. */
  async logTail(lines = 20): Promise<string> {
    const log = await readFile(this.logFile, 'utf8').catch((error: Error) => `(no log: ${error.message})`);
    const output = this.output.trim() ? `\n-- its output:\n${lastLines(this.output, lines)}` : '';
    return `-- ${this.logFile}, last ${lines} lines:\n${lastLines(log, lines)}${output}`;
  }

  /** kill -9: no shutdown, no save. */
  async kill(): Promise<void> {
    if (this.running) this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** A one-off connection to this node (callers disconnect it). */
  client(): Redis {
    // A command timeout: a check that never returns would hold a waitFor past its own timeout.
    const client = new Redis({
      host: '127.0.0.1',
      port: this.port,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: 5_000,
      commandTimeout: 5_000,
    });
    client.on('error', () => undefined);
    return client;
  }

  async ask<T>(run: (client: Redis) => Promise<T>): Promise<T> {
    const client = this.client();
    try {
      await client.connect();
      return await run(client);
    } finally {
      client.disconnect();
    }
  }
}

/** A data node's arguments: its port and directory, no persistence (later arguments override these). */
export const dataArgs = (port: number, dir: string) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--dir',
  dir,
  '--save',
  '',
  '--appendonly',
  'no',
  '--logfile',
  join(dir, 'redis.log'),
];

async function nodeDir(root: string, port: number): Promise<string> {
  const dir = join(root, String(port));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

async function logsOf(nodes: RedisNode[], lines?: number): Promise<string> {
  const tails = await Promise.all(
    nodes.map(async (node) => `${node.address} (${node.running ? 'running' : 'stopped'}) ${await node.logTail(lines)}`),
  );
  return tails.join('\n');
}

export interface ReplicatedRedis {
  /** REDIS_URL of the primary. */
  url: string;
  primary: RedisNode;
  replicas: RedisNode[];
  close(): Promise<void>;
}

/** A primary with `replicas` replicas attached and in sync, no sentinels: REDIS_ACK_REPLICAS without a failover. */
export const startReplicatedRedis = (options: { replicas?: number } = {}) => onFreePorts(() => replicatedRedis(options));

async function replicatedRedis({ replicas = 1 }: { replicas?: number }): Promise<ReplicatedRedis> {
  const root = await mkdtemp(join(tmpdir(), 'afm-replicated-'));
  const ports = await freePorts(1 + replicas);
  const nodes: RedisNode[] = [];
  for (const [index, port] of ports.entries()) {
    const dir = await nodeDir(root, port);
    nodes.push(new RedisNode(port, dir, [...dataArgs(port, dir), ...(index === 0 ? [] : ['--replicaof', '127.0.0.1', String(ports[0])])]));
  }
  const close = async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) await node.start();
    await waitFor(async () => (await nodes[0]!.ask((client) => client.info('replication'))).split('state=online').length - 1 === replicas, {
      timeoutMs: 15_000,
      what: `${replicas} replicas online`,
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { url: `redis://${nodes[0]!.address}/0`, primary: nodes[0]!, replicas: nodes.slice(1), close };
}

export interface SentinelGroup {
  master: string;
  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME, as a process is configured. */
  env: Record<string, string>;
  nodes: RedisNode[];
  sentinels: RedisNode[];
  /** The data node Sentinel names as primary now. */
  primary(): Promise<RedisNode>;
  /** Waits until the sentinels name another primary than `old`, with `replicas` replicas attached. */
  promoted(old: RedisNode, replicas: number): Promise<RedisNode>;
  /** The end of every server's and sentinel's log, for a failure's report. */
  logs(lines?: number): Promise<string>;
  close(): Promise<void>;
}

/** One primary, `replicas` replicas, `sentinels` sentinels (quorum: a majority), failing over in about 2 s. */
export const startSentinelGroup = (options: { replicas?: number; sentinels?: number } = {}) => onFreePorts(() => sentinelGroup(options));

async function sentinelGroup({ replicas = 2, sentinels = 3 }: { replicas?: number; sentinels?: number }): Promise<SentinelGroup> {
  const root = await mkdtemp(join(tmpdir(), 'afm-sentinel-'));
  const master = 'afm';
  const ports = await freePorts(1 + replicas + sentinels);
  const dataPorts = ports.slice(0, 1 + replicas);
  const nodes: RedisNode[] = [];
  for (const [index, port] of dataPorts.entries()) {
    const dir = await nodeDir(root, port);
    const replicaOf = index === 0 ? [] : ['--replicaof', '127.0.0.1', String(dataPorts[0])];
    nodes.push(new RedisNode(port, dir, [...dataArgs(port, dir), ...replicaOf]));
  }
  const sentinelNodes: RedisNode[] = [];
  for (const port of ports.slice(1 + replicas)) {
    const dir = await nodeDir(root, port);
    const file = join(dir, 'sentinel.conf');
    await writeFile(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `logfile ${join(dir, 'sentinel.log')}`,
        `sentinel monitor ${master} 127.0.0.1 ${dataPorts[0]} ${Math.floor(sentinels / 2) + 1}`,
        `sentinel down-after-milliseconds ${master} 1000`,
        `sentinel failover-timeout ${master} 5000`,
        `sentinel parallel-syncs ${master} 1`,
        '',
      ].join('\n'),
    );
    sentinelNodes.push(new RedisNode(port, dir, [file, '--sentinel'], join(dir, 'sentinel.log')));
  }
  const closeAll = async () => {
    await Promise.all([...nodes, ...sentinelNodes].map((node) => node.kill()));
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) await node.start();
    // Online, not just attached: a replica still in its first sync acknowledges no write (WAIT).
    await waitFor(async () => (await nodes[0]!.ask((client) => client.info('replication'))).split('state=online').length - 1 === replicas, {
      timeoutMs: 15_000,
      what: `${replicas} replicas online`,
    });
    for (const node of sentinelNodes) await node.start();
  } catch (error) {
    await closeAll();
    throw error;
  }

  const named = async () => {
    for (const sentinel of sentinelNodes.filter((node) => node.running)) {
      const reply = await sentinel
        .ask((client) => client.call('SENTINEL', 'get-master-addr-by-name', master) as Promise<[string, string] | null>)
        .catch(() => null);
      if (reply) return nodes.find((node) => node.port === Number(reply[1]));
    }
    return undefined;
  };
  const group: SentinelGroup = {
    master,
    env: { REDIS_SENTINELS: sentinelNodes.map((node) => node.address).join(','), REDIS_SENTINEL_NAME: master },
    nodes,
    sentinels: sentinelNodes,
    async primary() {
      return waitFor(named, { timeoutMs: 10_000, what: 'the primary the sentinels name' });
    },
    async promoted(old, attached) {
      return waitFor(
        async () => {
          const now = await named();
          if (!now || now === old || !now.running) return undefined;
          const info = await now.ask((client) => client.info('replication')).catch(() => '');
          return info.includes('role:master') && info.includes(`connected_slaves:${attached}`) ? now : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'a replica promoted by the sentinels' },
      );
    },
    logs: (lines) => logsOf([...nodes, ...sentinelNodes], lines),
    close: closeAll,
  };
  // Every sentinel knows every replica and the other sentinels before a test relies on a failover.
  await waitFor(
    async () => {
      for (const sentinel of sentinelNodes) {
        const state = (await sentinel.ask((client) => client.call('SENTINEL', 'master', master))) as string[];
        const field = (name: string) => Number(state[state.indexOf(name) + 1]);
        if (field('num-slaves') < replicas || field('num-other-sentinels') < sentinels - 1) return false;
      }
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'the sentinels to know each other and the replicas' },
  ).catch(async (error: unknown) => {
    await closeAll();
    throw error;
  });
  return group;
}

export interface RedisClusterServers {
  /** REDIS_CLUSTER_NODES, as a process is configured. */
  env: Record<string, string>;
  nodes: RedisNode[];
  /** The primary serving the slot of `key` now. */
  primaryOf(key: string): Promise<RedisNode>;
  /** Waits until another node than `old` serves the slot of `key` as primary and the cluster is ok. */
  promoted(old: RedisNode, key: string): Promise<RedisNode>;
  /** The end of every node's log, for a failure's report. */
  logs(lines?: number): Promise<string>;
  close(): Promise<void>;
}

/** `primaries` primaries with `replicasPer` replicas each, node timeout 1 s. */
export const startRedisCluster = (options: { primaries?: number; replicasPer?: number } = {}) => onFreePorts(() => redisCluster(options));

async function redisCluster({
  primaries = 3,
  replicasPer = 1,
}: {
  primaries?: number;
  replicasPer?: number;
}): Promise<RedisClusterServers> {
  const root = await mkdtemp(join(tmpdir(), 'afm-cluster-'));
  const ports = await freePorts(primaries * (1 + replicasPer));
  const nodes: RedisNode[] = [];
  for (const port of ports) {
    const dir = await nodeDir(root, port);
    nodes.push(
      new RedisNode(port, dir, [
        ...dataArgs(port, dir),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '1000',
        // A replica always stands for election, however long its link was down (a test kills at will).
        '--cluster-replica-validity-factor',
        '0',
      ]),
    );
  }
  const closeAll = async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(root, { recursive: true, force: true });
  };
  const clusterOk = async (node: RedisNode) =>
    (await node.ask((client) => client.call('CLUSTER', 'INFO') as Promise<string>).catch(() => '')).includes('cluster_state:ok');
  try {
    await Promise.all(nodes.map((node) => node.start()));
    const created = spawnSync(
      CLI,
      ['--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', String(replicasPer), '--cluster-yes'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    await waitFor(async () => (await Promise.all(nodes.map(clusterOk))).every(Boolean), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'every cluster node to say cluster_state:ok',
    });
    // A replica that has not synced yet cannot take over: tests kill primaries only once all have.
    await waitFor(
      async () =>
        (await Promise.all(nodes.map((node) => node.ask((client) => client.info('replication'))))).filter((info) =>
          info.includes('master_link_status:up'),
        ).length ===
        primaries * replicasPer,
      { timeoutMs: 30_000, intervalMs: 200, what: 'every replica in sync with its primary' },
    );
  } catch (error) {
    await closeAll();
    throw error;
  }
  const owner = async (key: string) => {
    const slot = keySlot(key);
    for (const node of nodes.filter((candidate) => candidate.running)) {
      const slots = (await node.ask((client) => client.call('CLUSTER', 'SLOTS')).catch(() => null)) as
        [number, number, [string, number]][] | null;
      const range = slots?.find(([from, to]) => from <= slot && slot <= to);
      if (range) return nodes.find((candidate) => candidate.port === Number(range[2][1]));
    }
    return undefined;
  };
  return {
    env: { REDIS_CLUSTER_NODES: nodes.map((node) => node.address).join(',') },
    nodes,
    primaryOf: (key) => waitFor(() => owner(key), { timeoutMs: 10_000, what: `the primary of ${key}` }),
    promoted: (old, key) =>
      waitFor(
        async () => {
          const now = await owner(key);
          return now && now !== old && now.running && (await clusterOk(now)) ? now : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `a replica promoted for ${key}` },
      ),
    logs: (lines) => logsOf(nodes, lines),
    close: closeAll,
  };
}
