// Seeding large states directly (a million tasks through HTTP would take longer than the benchmark):
// a backlog of waiting tasks in Postgres and in their BullMQ queues, exactly as AFM stores them, and a
// history of finished tasks from agents that went away.
import { randomUUID } from 'node:crypto';
import { queueKeys as bullKeys } from '@afm/shared/dispatch/bullmq';
import { dispatchKeys as afmKeys } from '@afm/shared/dispatch/keys';
import { taskQueueName } from '@afm/shared/queues';

const CHUNK = 10_000;

/** `count` waiting tasks spread over `types` task types that no benchmark agent polls for. */
export async function seedBacklog(system, { count = 1_000_000, types = 50 } = {}) {
  const keys = afmKeys(system.prefix);
  const postedBase = Date.now() - 3_600_000;
  for (let offset = 0; offset < count; offset += CHUNK) {
    const size = Math.min(CHUNK, count - offset);
    const ids = Array.from({ length: size }, () => randomUUID());
    const typeOf = (i) => `backlog-${(offset + i) % types}`;
    await system.db.query(
      `insert into tasks (id, test_id, task_type, task_version, task_data, posted_at)
       select id, gen_random_uuid(), type, 1, jsonb_build_object('n', n), to_timestamp(ms / 1000.0)
       from unnest($1::uuid[], $2::text[], $3::int[], $4::float8[]) as t(id, type, n, ms)`,
      [ids, ids.map((_, i) => typeOf(i)), ids.map((_, i) => offset + i), ids.map((_, i) => postedBase + offset + i)],
    );
    const pipeline = system.redis.pipeline();
    ids.forEach((id, i) => {
      const type = typeOf(i);
      const queue = taskQueueName(type, 1);
      const bull = bullKeys(system.prefix, queue);
      const data = JSON.stringify({ task_id: id, test_id: randomUUID(), task_type: type, task_version: 1, task_data: { n: offset + i } });
      pipeline.hset(
        bull.jobPrefix + id,
        'name',
        type,
        'data',
        data,
        'opts',
        '{}',
        'timestamp',
        postedBase + offset + i,
        'delay',
        0,
        'priority',
        0,
      );
      pipeline.lpush(bull.wait, id);
    });
    for (let t = 0; t < types; t++) pipeline.sadd(keys.queues, taskQueueName(`backlog-${t}`, 1));
    await pipeline.exec();
  }
  // Redis already holds every task: the reconciler has nothing to rebuild.
  await system.redis.set(keys.reconciled, String(Date.now()));
}

/** `count` finished tasks in Postgres, posted from `ageDays` days ago on, run by `agents` agents last seen half an hour ago. */
export async function seedHistory(system, { count = 1_000_000, agents = 10_000, ageDays = 3 } = {}) {
  const keys = afmKeys(system.prefix);
  const lastSeen = Date.now() - 1_800_000;
  const agentIds = Array.from({ length: agents }, () => randomUUID());
  await system.db.query(
    `insert into agents (id, name, country, region, first_seen, last_seen)
     select id, 'gone-' || left(id::text, 8), 'FI', '18', now() - interval '2 days', to_timestamp($2 / 1000.0)
     from unnest($1::uuid[]) as id`,
    [agentIds, lastSeen],
  );
  await system.db.query(
    `insert into agent_capabilities (agent_id, task_type, task_version) select id, 'history', 1 from unnest($1::uuid[]) as id`,
    [agentIds],
  );
  const pipeline = system.redis.pipeline();
  for (const id of agentIds) {
    pipeline.zadd(keys.agentsSeen, lastSeen, id);
    pipeline.hset(
      keys.agent(id),
      'name',
      `gone-${id.slice(0, 8)}`,
      'last_seen',
      lastSeen,
      'first_seen',
      lastSeen - 86_400_000,
      'capabilities',
      '{"history":{"version":1}}',
      'location',
      '',
    );
  }
  await pipeline.exec();
  for (let offset = 0; offset < count; offset += 100_000) {
    await system.db.query(
      `insert into tasks (id, test_id, task_type, task_version, task_data, state, posted_at, claimed_at, finished_at, agent_id, result, error)
       select gen_random_uuid(), gen_random_uuid(), 'history', 1, jsonb_build_object('n', n),
              case when n % 10 = 0 then 'failed' else 'completed' end,
              now() - make_interval(days => $5) + make_interval(secs => n / 10.0), now() - make_interval(days => $5) + make_interval(secs => n / 10.0 + 1),
              now() - make_interval(days => $5) + make_interval(secs => n / 10.0 + 2), ($1::uuid[])[1 + n % $2],
              case when n % 10 = 0 then null else '{"ms": 120}'::jsonb end, case when n % 10 = 0 then 'timeout' else null end
       from generate_series($3::int, $4::int) as n`,
      [agentIds, agents, offset, Math.min(count, offset + 100_000) - 1, ageDays],
    );
  }
  await system.db.query('analyze tasks');
}
