// Issue 8: a worker announces itself while it runs and withdraws when it stops, so replicas can tell
// operators that no worker is consuming results (a dead worker is otherwise invisible).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveWorkers } from '@afm/shared/dispatch/workers';
import { startWorker } from '../src/worker.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('heartbeat');
});
afterAll(() => h.close());

describe('worker heartbeat', () => {
  it('counts a running worker and stops counting it once closed', async () => {
    expect(await liveWorkers(h.deps.dispatch.redis, h.deps.dispatch.keys)).toBe(0);
    const first = await startWorker(h.deps);
    const second = await startWorker(h.deps);
    expect(await liveWorkers(h.deps.dispatch.redis, h.deps.dispatch.keys)).toBe(2);
    await first.close();
    expect(await liveWorkers(h.deps.dispatch.redis, h.deps.dispatch.keys)).toBe(1);
    await second.close();
    expect(await liveWorkers(h.deps.dispatch.redis, h.deps.dispatch.keys)).toBe(0);
  });
});
