/// <reference lib="dom" />
// Issue 15: the operator's morning in a real browser (Debian Chromium via playwright-core). With an
// admin token and no database credentials, the operator sees a queue no agent can run, pauses it,
// filters the tasks, cancels one, reads a task's timeline, retries, looks at a test run and an agent,
// drops the agent, drains the stranded queue, and sees the last hour's throughput and the worker.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_CAUSE_NAMES, FAILURE_EVENTS } from '@afm/shared/dispatch/states';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { launchBrowser } from './support/browser.js';
import { call, newTask, poll } from './support/client.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));
const ADMIN = 'console-admin-token-0123456789';
const bpms = { authorization: 'Bearer console-bpms-token-0123456789' };
const agentAuth = { authorization: 'Bearer console-agent-token-0123456789' };
const admin = { authorization: `Bearer ${ADMIN}` };

let env: TestEnv;
let api: ApiServer;
let worker: { close(): Promise<void> };
let browser: BrowserContext;
let page: Page;
const problems: string[] = [];

const orphan = `orphan-${randomUUID().slice(0, 4)}`;
const web = `web-${randomUUID().slice(0, 4)}`;
const testId = randomUUID();
const agentId = randomUUID();
const webTasks = [0, 1, 2].map((n) => ({ ...newTask(web, { url: `https://example.com/${n}` }), test_id: testId }));
let completed: string;
let waiting: string;
let retried: string;

beforeAll(async () => {
  env = await createTestEnv('console', {
    ADMIN_TOKENS: ADMIN,
    BPMS_TOKENS: 'console-bpms-token-0123456789',
    AGENT_TOKENS: 'console-agent-token-0123456789',
  });
  api = await startReplica(env.config, env.logger);
  // History sampled every second, so the charts fill within the test.
  worker = await startInProcessWorker(env.config, env.logger, { historyEveryMs: 1_000 });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => problems.push(error.message));
  // A CSP violation or a failed request shows up here.
  // (The first page load's 401s, before the token is entered, are expected.)
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().includes('status of 401')) problems.push(message.text());
  });

  for (const task of [newTask(orphan), newTask(orphan), ...webTasks])
    expect((await call(api.url, 'POST', '/task', task, bpms)).status).toBe(200);
  const claimed = await poll(api.url, [web], 2, agentId, agentAuth);
  expect(claimed).toHaveLength(2);
  completed = claimed[0]!.task_id;
  waiting = webTasks.find((task) => !claimed.some((c) => c.task_id === task.task_id))!.task_id;
  expect(
    (await call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: completed, task_data: { status: 200 } }, agentAuth)).status,
  ).toBe(200);
  await waitFor(async () => (await call(api.url, 'GET', `/api/tasks/${completed}`, undefined, admin)).body.finished_at, {
    what: 'the result in Postgres',
  });
  // The queues' capable agents come from Postgres, where the worker's sync job writes agents.
  await waitFor(async () => (await call(api.url, 'GET', `/api/agents/${agentId}`, undefined, admin)).status === 200, {
    what: 'the agent in Postgres',
  });
  mkdirSync(RESULTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await worker?.close();
  await env?.cleanup();
});

const detail = () => page.locator('#detail');
const queueRow = (type: string) => page.locator(`#queues tr[data-queue="${type}/1"]`);
async function confirm(reason?: string) {
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor();
  if (reason !== undefined) await dialog.locator('input[name="reason"]').fill(reason);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });
}
const apiGet = async (path: string) => (await call(api.url, 'GET', path, undefined, admin)).body;

describe("the operator's morning", () => {
  it('/ leads to the dashboard, which asks for the admin token', async () => {
    await page.goto(`${api.url}/`);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    await page.locator('#token').waitFor();
    await page.fill('#token input[name="token"]', ADMIN);
    await page.click('#token button');
    await queueRow(web).waitFor();
  });

  it('sees a queue with no capable agent, and pauses it', async () => {
    await page.locator('#queues .warning').getByText(`${orphan} v1`).waitFor();
    const row = queueRow(orphan);
    expect(await row.getAttribute('class')).toBe('warn');
    await row.getByText('no capable agent').waitFor();
    expect(await queueRow(web).getByText('no capable agent').count()).toBe(0);
    await page.screenshot({ path: `${RESULTS}console-overview.png`, fullPage: true });

    await row.getByRole('button', { name: 'Pause' }).click();
    await page.locator('dialog#confirm .message').getByText(`Pause ${orphan} v1?`).waitFor();
    await confirm();
    await page.locator('#notice').getByText(`paused ${orphan} v1`).waitFor();
    await row.getByRole('button', { name: 'Resume' }).waitFor();
    expect((await apiGet('/api/queues')).find((q: { task_type: string }) => q.task_type === orphan).paused).toBe(true);

    await row.getByRole('button', { name: 'Resume' }).click();
    await confirm();
    await page.locator('#notice').getByText(`resumed ${orphan} v1`).waitFor();
    expect((await apiGet('/api/queues')).find((q: { task_type: string }) => q.task_type === orphan).paused).toBe(false);
  });

  it('backing out of the dialog does nothing', async () => {
    await queueRow(web).getByRole('button', { name: 'Pause' }).click();
    await page.locator('dialog#confirm').getByRole('button', { name: 'Back' }).click();
    expect((await apiGet('/api/queues')).find((q: { task_type: string }) => q.task_type === web).paused).toBe(false);
  });

  it('filters tasks by type, state, agent and location', async () => {
    await page.fill('#task-filter input[name="type"]', web);
    await page.selectOption('#task-filter select[name="state"]', '');
    await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 3);
    await page.fill('#task-filter input[name="agent_id"]', agentId);
    await page.click('#task-filter button');
    await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);
    await page.fill('#task-filter input[name="agent_id"]', 'not-a-uuid');
    await page.click('#task-filter button');
    await page.locator('#task-filter output').getByText('agent id must be a UUID').waitFor();
    await page.fill('#task-filter input[name="agent_id"]', '');
    const since = page.waitForRequest((request) => /\/api\/tasks\?.*posted_after=/.test(request.url()));
    await page.selectOption('#task-filter select[name="since"]', '3600');
    const asked = new URL((await since).url()).searchParams.get('posted_after')!;
    expect(Date.now() - Date.parse(asked)).toBeGreaterThanOrEqual(3_600_000);
    await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 3);
    await page.fill('#task-filter input[name="country"]', 'FI');
    await page.click('#task-filter button');
    await page.locator('#tasks').getByText('no tasks').waitFor();
  });

  it('cancels a waiting task', async () => {
    await page.goto(`${api.url}/dashboard#/task/${waiting}`);
    await detail().getByRole('button', { name: 'Cancel task' }).click();
    await confirm();
    await page.locator('#notice').getByText(`cancelled task ${waiting}`).waitFor();
    await waitFor(async () => (await call(api.url, 'GET', `/task/${waiting}`, undefined, bpms)).body.task_error === 'cancelled', {
      what: 'the cancellation, as the BPMS reads it',
    });
    await detail().getByText('(cancelled)').waitFor();
    await detail().getByRole('button', { name: 'Retry as a new task' }).waitFor();
  });

  it("reads a task's timeline: posted, claimed, finished, with wait and run times and attempts", async () => {
    await page.goto(`${api.url}/dashboard#/task/${completed}`);
    const claimed = detail().locator('li[data-step="claimed"]');
    await claimed.getByText(/waited \d/).waitFor();
    expect(await claimed.textContent()).toContain(agentId);
    const finished = detail().locator('li[data-step="finished"]');
    expect(await finished.textContent()).toMatch(/^completed .* — ran \d/);
    expect(await detail().locator('li[data-step="stored"]').textContent()).toMatch(/^stored .* — in Postgres \d.* after$/);
    // Times carry their zone (the browser runs in UTC here).
    expect(await detail().locator('li[data-step="posted"]').textContent()).toMatch(/UTC|GMT/);
    const fields = await detail().locator('dl').textContent();
    expect(fields).toContain('attempts1');
    expect(fields).toContain('ttlnone');
    await detail().getByText('"status": 200').waitFor();
    await page.screenshot({ path: `${RESULTS}console-task.png`, fullPage: true });
  });

  it('retries the cancelled task as a new task of the same test run', async () => {
    await page.goto(`${api.url}/dashboard#/task/${waiting}`);
    await detail().getByRole('button', { name: 'Retry as a new task' }).click();
    await confirm();
    const notice = await page
      .locator('#notice')
      .getByText(/^retried as task /)
      .textContent();
    retried = notice!.replace('retried as task ', '');
    await page.waitForFunction((id) => location.hash === `#/task/${id}`, retried);
    expect(await apiGet(`/api/tasks/${retried}`)).toMatchObject({ test_id: testId, task_type: web, state: 'waiting' });
  });

  it("shows the test run's timeline", async () => {
    await page.goto(`${api.url}/dashboard#/test/${testId}`);
    await detail().getByText(`Test run ${testId}`).waitFor();
    expect(await detail().locator('.counts').textContent()).toMatch(/^4 tasks: 1 waiting, 1 in progress, 1 completed, 1 failed/);
    expect(await detail().locator('.gantt').count()).toBe(4);
    expect(await detail().locator('dl').textContent()).toContain('so far');
  });

  it("shows an agent's recent tasks, and drops the agent", async () => {
    await page.goto(`${api.url}/dashboard#/agent/${agentId}`);
    await page.waitForFunction(() => document.querySelectorAll('#agent-tasks tbody tr').length === 2);
    await detail().getByRole('button', { name: 'Drop agent' }).click();
    await confirm();
    await page
      .locator('#notice')
      .getByText(/^dropped agent .*; 1 task\(s\) it held failed$/)
      .waitFor();
    expect((await call(api.url, 'GET', `/api/agents/${agentId}`, undefined, admin)).status).toBe(404);
  });

  it('drains the stranded queue with a reason', async () => {
    await page.goto(`${api.url}/dashboard#/`);
    await queueRow(orphan).getByRole('button', { name: 'Drain' }).click();
    // The reason is required: Confirm without one keeps the dialog open.
    await page.locator('dialog#confirm').getByRole('button', { name: 'Confirm' }).click();
    expect(await page.locator('dialog#confirm').isVisible()).toBe(true);
    await confirm('check retired');
    await page.locator('#notice').getByText(`drained 2 task(s) of ${orphan} v1`).waitFor();
    type Failed = { items: { task_error: string; failure: string }[] };
    await waitFor(async () => ((await apiGet(`/api/tasks?type=${orphan}&state=failed`)) as Failed).items.length === 2, {
      what: 'the drained tasks in Postgres',
    });
    expect(((await apiGet(`/api/tasks?type=${orphan}&failure=drained`)) as Failed).items.map((t) => [t.task_error, t.failure])).toEqual([
      ['check retired', 'drained'],
      ['check retired', 'drained'],
    ]);
    // Told from other failures in the console: filtered by how they failed, and marked so.
    const filter = page.locator('#task-filter');
    await filter.evaluate((form: HTMLFormElement) => form.reset()); // an earlier test's filters
    await filter.locator('select[name=state]').selectOption('failed:drained');
    await filter.locator('input[name=type]').fill(orphan);
    await filter.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);
    expect(await page.locator('#tasks tbody tr .kind').allTextContents()).toEqual([' drained', ' drained']);
    await filter.locator('select[name=state]').selectOption('failed:agent_error');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await page.locator('#tasks').getByText('no tasks').waitFor();
  });

  it("sees the last hour's throughput and latency, and the worker's side", async () => {
    await page.goto(`${api.url}/dashboard#/`);
    // Counters need two samples before a rate exists.
    await page.waitForFunction(
      () => Number(document.querySelector('[data-chart="throughput"] path.s1')?.getAttribute('data-points') ?? 0) >= 2,
      undefined,
      { timeout: 30_000 },
    );
    const legend = await page.locator('[data-chart="throughput"] .legend').textContent();
    expect(legend).toMatch(/posted: .*completed: .*failed: /);
    expect(await page.locator('[data-chart="depth"] svg').getAttribute('aria-label')).toMatch(/UTC|GMT/);
    expect(await page.locator('[data-chart="latency"] path').count()).toBe(3);
    await page
      .locator('#worker')
      .getByText(/^Results queue: \d+ waiting/)
      .waitFor();
    await page.locator('#worker td', { hasText: /^history$/ }).waitFor();
    await page
      .locator('#worker')
      .getByText(/Worker processes: 1 live/)
      .waitFor();
    await page.screenshot({ path: `${RESULTS}console-history.png`, fullPage: true });
    const sixHours = page.waitForResponse((response) => response.url().endsWith('/api/history?hours=6') && response.ok());
    await page.click('#history-window button[data-hours="6"]');
    await sixHours;
    await page.locator('[data-chart="throughput"]').waitFor();
  });

  it('shows task data as text, never as HTML', async () => {
    const hostile = {
      ...newTask(`x-${randomUUID().slice(0, 4)}`, { html: '<img src=x onerror="window.pwned=1">' }),
      task_type: '<b>bold</b>',
    };
    expect((await call(api.url, 'POST', '/task', hostile, bpms)).status).toBe(200);
    await page.goto(`${api.url}/dashboard#/task/${hostile.task_id}`);
    await detail().getByText('<img src=x', { exact: false }).waitFor();
    expect(await detail().locator('img, b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });

  it('fits a 390 px phone without scrolling sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const route of ['#/', `#/task/${completed}`, `#/test/${testId}`]) {
      await page.goto(`${api.url}/dashboard${route}`);
      await page.locator(route === '#/' ? '#queues table' : '#detail h2').waitFor();
      const widest = await page.evaluate(() => {
        let found = { width: 0, what: '' };
        for (const element of Array.from(document.querySelectorAll('body *'))) {
          const right = element.getBoundingClientRect().right;
          if (right > found.width && !element.closest('.scroll'))
            found = { width: right, what: `${element.tagName}#${element.id}.${element.className}` };
        }
        return found;
      });
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth),
        `${route}: widest ${JSON.stringify(widest)}`,
      ).toBeLessThanOrEqual(390);
    }
    await page.goto(`${api.url}/dashboard#/`);
    await page.locator('#queues table').waitFor();
    await page.screenshot({ path: `${RESULTS}console-mobile.png`, fullPage: false });
    await page.setViewportSize({ width: 1400, height: 1000 });
    expect(problems).toEqual([]);
  });
});

describe('the dashboard over HTTP', () => {
  it('carries a CSP and the other security headers; the API does not need them', async () => {
    for (const path of ['/dashboard', '/dashboard/app.js', '/dashboard/style.css']) {
      const response = await fetch(`${api.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-security-policy'), path).toMatch(/default-src 'none'; script-src 'self'; style-src 'self'/);
      expect(response.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
    expect((await fetch(`${api.url}/status`, { headers: bpms })).headers.get('content-security-policy')).toBeNull();
    // The page's list of failure events is FAILURE_EVENTS' (it imports no TypeScript).
    const views = await (await fetch(`${api.url}/dashboard/views.js`)).text();
    expect(JSON.parse(/const FAILURES = (\[[^\]]*\])/.exec(views)![1]!.replaceAll("'", '"'))).toEqual([...FAILURE_EVENTS]);
    const words = /const FAILURE_WORDS = \{([^}]*)\}/.exec(views)![1]!;
    expect([...words.matchAll(/(\w+):/g)].map((match) => match[1])).toEqual(FAILURE_CAUSE_NAMES);
    const root = await fetch(`${api.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/dashboard');
  });
});
