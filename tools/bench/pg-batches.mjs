// `npm run bench -- --scenario pg-batches` (issue 14): what one insert statement of posted tasks costs
// Postgres by the number of rows it carries — AFM's own insertTasks on a fresh, migrated database,
// 4 statements at a time, batch sizes in alternating rounds. Postgres CPU from /proc (every postgres
// process), per row inserted.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createDb } from '@afm/shared/db/connect';
import { migrateToLatest } from '@afm/shared/db/migrate';
import { insertTasks } from '@afm/shared/db/tasks';
import { measureCpu, processGroups } from './system.mjs';

const ADMIN = process.env.AFM_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function pgBatches({ sizes = [1, 4, 8, 16, 32, 64], rows = 16_000, runs = 3, log = () => {} } = {}) {
  const database = `afm_bench_pg_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(ADMIN);
  url.pathname = `/${database}`;
  const db = createDb(url.toString(), { max: 4 });
  const postgres = processGroups({ processes: [] }).filter(({ name }) => name === 'postgres');
  const results = new Map(sizes.map((size) => [size, []]));
  try {
    await migrateToLatest(db);
    for (let round = 1; round <= runs; round++) {
      for (const size of sizes) {
        log(`pg-batches: ${size} rows a statement, round ${round}/${runs}`);
        const batches = Array.from({ length: Math.ceil(rows / size) }, () =>
          Array.from({ length: size }, (_, n) => ({
            task: { task_id: randomUUID(), test_id: randomUUID(), task_type: 'pg-batches', task_version: 1, task_data: { n } },
            postedAt: new Date(),
          })),
        );
        const cpu = measureCpu(postgres);
        const started = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < batches.length) await insertTasks(db, batches[next++]);
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        const inserted = batches.length * size;
        results.get(size).push({
          rows_per_s: Math.round(inserted / seconds),
          postgres_cpu_us_per_row: Math.round(((cpu().postgres / 100) * seconds * 1e6) / inserted),
        });
      }
    }
  } finally {
    await db.destroy();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
  return results;
}
