/// <reference lib="dom" />
// Issue 5: the dashboard in a real browser (Debian Chromium via playwright-core) against a running AFM.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { launchBrowser } from './support/browser.js';
import { call, newTask, poll } from './support/client.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));

let env: TestEnv;
let api: ApiServer;
let worker: { close(): Promise<void> };
let browser: BrowserContext;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  env = await createTestEnv('dashboard');
  api = await startReplica(env.config, env.logger);
  worker = await startInProcessWorker(env.config, env.logger);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
});
afterAll(async () => {
  await browser?.close();
  await api.close();
  await worker.close();
  await env.cleanup();
});

const testId = randomUUID();
const typeA = `http-get-${randomUUID().slice(0, 4)}`;
const typeB = `wait-${randomUUID().slice(0, 4)}`;
const agentId = randomUUID();
const tasks = [0, 1, 2, 3, 4].map((n) => ({ ...newTask(n % 2 ? typeA : typeB, { url: `https://example.com/${n}` }), test_id: testId }));

describe('dashboard', () => {
  it('shows posted tasks, queues and a polling agent, and keeps itself up to date', async () => {
    for (const task of tasks) expect((await call(api.url, 'POST', '/task', task)).status).toBe(200);
    await call(api.url, 'POST', '/tasks', {
      protocol: 1,
      agent_id: agentId,
      agent_name: 'dash-agent-helsinki',
      agent_time: new Date().toISOString(),
      agent_location: { country: 'FI', region: '18' },
      agent_capabilities: { [typeA]: { version: 1 } },
      max_tasks: 1,
    });
    await waitFor(async () => (await call(api.url, 'GET', `/api/agents/${agentId}`)).status === 200, { what: 'the agent in Postgres' });

    await page.goto(`${api.url}/dashboard`);
    await page.getByRole('cell', { name: typeA, exact: true }).waitFor();
    await page.getByRole('cell', { name: typeB, exact: true }).waitFor();
    await page.getByText('dash-agent-helsinki').waitFor();
    expect(await page.locator('[data-metric="agents active"]').textContent()).toBe('1');
    expect(await page.locator('[data-metric="tasks waiting"]').textContent()).toBe('4');
    await page.locator('#tasks').getByText(tasks[4]!.task_id.slice(0, 8)).waitFor();

    // posted after the page loaded: appears without a reload
    const late = `late-${randomUUID().slice(0, 4)}`;
    await call(api.url, 'POST', '/task', newTask(late));
    await page.getByRole('cell', { name: late, exact: true }).waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-metric="tasks waiting"]').textContent()).toBe('5');

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: `${RESULTS}dashboard.png`, fullPage: true });
  });

  it('adds a task through the form and shows it', async () => {
    await page.fill('input[name="task_type"]', 'form-made');
    await page.fill('input[name="task_version"]', '3');
    await page.fill('textarea[name="task_data"]', '{"url": "https://example.org", "timeout": 5}');
    await page.click('#add-task button');
    const link = page.locator('#add-task output a');
    await link.waitFor();
    const taskId = (await link.textContent())!;
    const stored = await call(api.url, 'GET', `/task/${taskId}`);
    expect(stored.body).toMatchObject({ task_type: 'form-made', task_version: 3, task_data: { url: 'https://example.org', timeout: 5 } });
    await link.click();
    await page.locator('#detail').getByText(taskId).waitFor();
    expect(await page.locator('#detail pre').first().textContent()).toContain('"timeout": 5');
    await page.getByRole('cell', { name: 'form-made', exact: true }).count(); // overview is hidden now
    expect(await page.locator('#overview').isHidden()).toBe(true);
  });

  it('says what is wrong with a bad form entry', async () => {
    await page.goto(`${api.url}/dashboard`);
    await page.fill('input[name="task_type"]', 'x');
    await page.fill('textarea[name="task_data"]', '[1, 2]');
    await page.click('#add-task button');
    await page.locator('#add-task output').getByText('body.task_data').waitFor();
  });

  it('opens a task with its result, and a test run found by search', async () => {
    const [claimed] = await poll(api.url, [typeB], 1, agentId);
    await call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: claimed!.task_id, task_data: { ms: 42 } });
    await waitFor(async () => (await call(api.url, 'GET', `/task/${claimed!.task_id}`)).body.task_completed, { what: 'the result' });

    await page.goto(`${api.url}/dashboard`);
    await page.fill('#search input', claimed!.task_id);
    await page.click('#search button');
    await page.locator('#detail').getByText('"ms": 42').waitFor({ timeout: 8_000 });
    await page.locator('#detail').getByText('completed').first().waitFor({ timeout: 8_000 });
    await page.locator('#detail').getByText(agentId).waitFor({ timeout: 8_000 });

    await page.fill('#search input', testId);
    await page.click('#search button');
    await page.locator('#detail').getByText(`Test run ${testId}`).waitFor({ timeout: 8_000 });
    const counts = await page.locator('#detail .counts').textContent();
    expect(counts).toMatch(/^5 tasks: /);
    expect(counts).toContain('1 completed');
    for (const task of tasks) await page.locator('#detail').getByText(task.task_id.slice(0, 8)).waitFor();
    await page.screenshot({ path: `${RESULTS}dashboard-test-run.png`, fullPage: true });
    expect(errors).toEqual([]);
  });

  it('stays usable at 1,000 agents and 100,000 tasks: one page at a time', async () => {
    const db = createDb(env.config.DATABASE_URI, { max: 1 });
    try {
      await sql`insert into tasks (id, test_id, task_type, task_version, task_data, state, posted_at, claimed_at, finished_at, agent_id, result, error)
        select gen_random_uuid(), gen_random_uuid(), 'bulk-' || (n % 20), 1, jsonb_build_object('n', n),
               case when n % 10 = 0 then 'failed' else 'completed' end,
               now() - make_interval(secs => n), now() - make_interval(secs => n), now() - make_interval(secs => n - 1), null,
               case when n % 10 = 0 then null else '{"ok": true}'::jsonb end,
               case when n % 10 = 0 then 'timeout' else null end
        from generate_series(1, 100000) as n`.execute(db);
      await sql`insert into agents (id, name, country, region, first_seen, last_seen)
        select gen_random_uuid(), 'bulk-agent-' || n, 'FI', '18', now() - interval '1 day', now() - make_interval(secs => n * 60)
        from generate_series(1, 1000) as n`.execute(db);
    } finally {
      await db.destroy();
    }
    await page.goto(`${api.url}/dashboard`);
    await page.selectOption('#task-filter select[name="state"]', 'completed');
    await page.locator('#tasks tbody tr').nth(24).waitFor();
    expect(await page.locator('#tasks tbody tr').count()).toBe(25);
    const firstPage = await page.locator('#tasks tbody tr td:first-child').allTextContents();
    await page.click('#tasks .more');
    await page.waitForFunction((first) => document.querySelector('#tasks tbody tr td')?.textContent !== first, firstPage[0]);
    const secondPage = await page.locator('#tasks tbody tr td:first-child').allTextContents();
    expect(secondPage).toHaveLength(25);
    expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);

    await page.click('#agent-filter button[data-active=""]');
    await page.locator('#agents tbody tr').nth(24).waitFor();
    expect(await page.locator('#agents tbody tr').count()).toBe(25);
    await page.locator('#agents .more').waitFor();
    await page.screenshot({ path: `${RESULTS}dashboard-scale.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
