#!/usr/bin/env node
// Black-box conformance test for the SLAMon Agent Fleet Manager HTTP API
// (SPEC.md §2 "Protocol version 1", §2.6 errors, §4 invariants 2, 3, 5, 6).
//
// Usage: node conformance.mjs URL [URL2]
//   URL and URL2 are two replicas of the same service (URL2 defaults to URL).
// Output: one line per check, "ok   <desc>" or "FAIL <desc> — <observed>",
// then "N passed, M failed". Exit code 1 if anything failed.
//
// Node 20+, no dependencies. Every check uses fresh random task types and
// agent ids, so checks do not interfere with each other or with earlier runs.

import { randomUUID } from 'node:crypto';

const A = (process.argv[2] || '').replace(/\/+$/, '');
const B = (process.argv[3] || process.argv[2] || '').replace(/\/+$/, '');
if (!A) {
  console.error('usage: node conformance.mjs URL [URL2]');
  process.exit(2);
}

const TIMEOUT_MS = 10_000;
const VISIBLE_MS = 2_000; // result must be visible on GET within ~1-2 s
const SETTLE_MS = 5_000; // generous wait used where visibility itself is not under test
const FINISH_KEYS = ['task_completed', 'task_result', 'task_failed', 'task_error'];
const UUID_RE = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;

let passed = 0;
let failed = 0;

// ---------------------------------------------------------------- reporting

function ok(desc) {
  passed++;
  console.log(`ok   ${desc}`);
}
function fail(desc, why) {
  failed++;
  console.log(`FAIL ${desc} — ${why}`);
}
function check(desc, cond, why) {
  if (cond) ok(desc);
  else fail(desc, typeof why === 'function' ? why() : why);
  return !!cond;
}
function trunc(s, n = 300) {
  s = String(s);
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}
function obs(r) {
  if (!r) return 'no response';
  if (r.status === 0) return r.text;
  return `status ${r.status}, body ${r.text === '' ? '<empty>' : trunc(r.text)}`;
}

// ---------------------------------------------------------------- HTTP

// opts.raw: string body sent verbatim; opts.noBody: send no body at all;
// opts.headers: extra headers (a content-type given here wins).
async function req(base, method, path, body, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const hasCT = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  let payload;
  if (!opts.noBody) {
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !hasCT) headers['content-type'] = 'application/json';
  }
  try {
    const res = await fetch(base + path, {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let json;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers };
  } catch (e) {
    const code = e?.cause?.code || e?.name || '';
    return {
      status: 0,
      text: `request error (${method} ${base}${path}): ${code} ${e?.cause?.message || e?.message || e}`,
      json: undefined,
    };
  }
}

function isErrShape(r) {
  const j = r.json;
  return !!j && typeof j === 'object' && !Array.isArray(j) && typeof j.error === 'string' && typeof j.message === 'string';
}
function expectStatus(desc, r, okStatus) {
  const statusOk = Array.isArray(okStatus) ? okStatus.includes(r.status) : r.status === okStatus;
  return check(desc, statusOk && isErrShape(r), () =>
    statusOk ? `${obs(r)} (4xx body is not JSON with string "error" and "message")` : obs(r),
  );
}
const expect400 = (desc, r) => expectStatus(desc, r, 400);
function expectEmpty200(desc, r) {
  return check(desc, r.status === 200 && r.text === '', () => (r.status === 200 ? `${obs(r)} (expected an empty body)` : obs(r)));
}
function expectNot5xx(desc, r) {
  return check(`${desc} (got ${r.status || 'no response'})`, r.status >= 200 && r.status < 500, obs(r));
}

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const uuid = () => randomUUID();
const short = () => randomUUID().slice(0, 8);
const createdPairs = new Map(); // "type\0version" -> [type, version], for the final sweep

function newType() {
  return `conf-${short()}`;
}
function mkTask(over = {}) {
  return {
    task_id: uuid(),
    test_id: uuid(),
    task_type: newType(),
    task_version: 1,
    task_data: { conformance: true, n: 1 },
    ...over,
  };
}
function remember(t) {
  if (t && typeof t.task_type === 'string' && Number.isInteger(t.task_version)) {
    createdPairs.set(`${t.task_type}\0${t.task_version}`, [t.task_type, t.task_version]);
  }
}
async function postTask(base, task, path = '/task', opts = {}) {
  remember(task);
  return req(base, 'POST', path, task, opts);
}
function caps(...pairs) {
  const c = {};
  for (const p of pairs) {
    const [t, v] = Array.isArray(p) ? p : [p, 1];
    c[t] = { version: v };
  }
  return c;
}
function pollBody(agentId, capabilities, max, extra = {}) {
  return {
    protocol: 1,
    agent_id: agentId,
    agent_name: 'conformance-agent',
    agent_time: new Date().toISOString(),
    agent_capabilities: capabilities,
    max_tasks: max,
    ...extra,
  };
}
async function poll(base, agentId, capabilities, max, extra, path = '/tasks') {
  return req(base, 'POST', path, pollBody(agentId, capabilities, max, extra));
}
async function respond(base, taskId, payload, path = '/tasks/response') {
  return req(base, 'POST', path, { protocol: 1, task_id: taskId, ...payload });
}
async function getTask(base, id, suffix = '') {
  return req(base, 'GET', `/task/${id}${suffix}`);
}
function tasksOf(r) {
  return r && r.status === 200 && r.json && Array.isArray(r.json.tasks) ? r.json.tasks : null;
}
function ids(r) {
  const t = tasksOf(r);
  return t ? t.map((x) => String(x?.task_id).toLowerCase()) : null;
}
const lc = (s) => String(s).toLowerCase();

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}
function sameKeys(obj, keys) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return false;
  const k = Object.keys(obj).sort();
  const e = [...keys].sort();
  return k.length === e.length && k.every((x, i) => x === e[i]);
}
function parseTs(s) {
  if (typeof s !== 'string') return NaN;
  // normalise a ±hhmm offset to ±hh:mm so Date.parse is unambiguous
  return Date.parse(s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}
const ISO_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)$/;
const TZ_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function finishedKeysPresent(j) {
  return FINISH_KEYS.filter((k) => j && Object.hasOwn(j, k));
}

// Setup steps throw; the group runner turns that into a FAIL line.
function must(cond, what, r) {
  if (!cond) throw new Error(`setup step failed: ${what}${r ? ` — ${obs(r)}` : ''}`);
}
async function createTask(base, over = {}) {
  const t = mkTask(over);
  const r = await postTask(base, t);
  must(r.status === 200, `POST /task ${t.task_id}`, r);
  return t;
}
async function claimTask(base, t) {
  const agent = uuid();
  const r = await poll(base, agent, caps([t.task_type, t.task_version]), 1);
  const got = ids(r);
  must(got && got.length === 1 && got[0] === lc(t.task_id), `claiming task ${t.task_id} via POST /tasks`, r);
  return agent;
}
async function createClaimed(over = {}) {
  const t = await createTask(A, over);
  const agent = await claimTask(B, t);
  return { t, agent };
}
async function waitFinished(base, id, ms) {
  const start = Date.now();
  let r;
  for (;;) {
    r = await getTask(base, id);
    if (r.status === 200 && r.json && (Object.hasOwn(r.json, 'task_completed') || Object.hasOwn(r.json, 'task_failed'))) {
      return { r, done: true, elapsed: Date.now() - start };
    }
    if (Date.now() - start >= ms) return { r, done: false, elapsed: Date.now() - start };
    await sleep(100);
  }
}

// ---------------------------------------------------------------- groups

const groups = [];
const group = (name, fn) => groups.push([name, fn]);

// ---- §2.3 / §2.4: POST /task accepted, GET /task/<id>
group('POST /task + GET /task basics', async () => {
  const data = { a: 1, f: 1.5, neg: -3, t: true, n: null, s: 'ü✓ "quoted"', nested: { list: [1, 'two', { three: 3 }], empty: {} } };
  const t = mkTask({ task_data: data });
  const r = await postTask(A, t);
  expectEmpty200('POST /task with a valid task → 200, empty body', r);

  const g = await getTask(A, t.task_id);
  const j = g.json || {};
  check('GET /task/<id> → 200', g.status === 200, obs(g));
  check(
    'GET /task/<id> has task_id, test_id, task_type, task_version, task_data equal to what was posted',
    g.status === 200 &&
      lc(j.task_id) === lc(t.task_id) &&
      lc(j.test_id) === lc(t.test_id) &&
      j.task_type === t.task_type &&
      j.task_version === t.task_version &&
      deepEqual(j.task_data, data),
    obs(g),
  );
  check(
    'unfinished task carries none of task_completed/task_result/task_failed/task_error',
    g.status === 200 && finishedKeysPresent(j).length === 0,
    () => `${obs(g)} (present: ${finishedKeysPresent(j).join(', ')})`,
  );

  const g2 = await getTask(B, t.task_id);
  check(
    'task posted on replica 1 is readable at once from replica 2 with the same content',
    g2.status === 200 && lc(g2.json?.task_id) === lc(t.task_id) && deepEqual(g2.json?.task_data, data),
    obs(g2),
  );

  const t2 = mkTask();
  const r2 = await postTask(B, t2);
  const g3 = r2.status === 200 ? await getTask(A, t2.task_id) : r2;
  check(
    'task posted on replica 2 is readable at once from replica 1',
    r2.status === 200 && g3.status === 200 && lc(g3.json?.task_id) === lc(t2.task_id),
    obs(g3),
  );

  const gs = await getTask(A, t.task_id, '/');
  check('GET /task/<id>/ (trailing slash) → 200 with the task', gs.status === 200 && lc(gs.json?.task_id) === lc(t.task_id), obs(gs));

  // task_data optional
  const t3 = mkTask();
  delete t3.task_data;
  const r3 = await postTask(A, t3);
  expectEmpty200('POST /task without task_data → 200, empty body', r3);
  const g4 = await getTask(B, t3.task_id);
  check('task posted without task_data shows task_data {} on GET', g4.status === 200 && deepEqual(g4.json?.task_data, {}), obs(g4));

  // explicit empty task_data
  const t3b = mkTask({ task_data: {} });
  const r3b = await postTask(A, t3b);
  expectEmpty200('POST /task with task_data {} → 200', r3b);

  // trailing slash on POST
  const t4 = mkTask();
  const r4 = await postTask(A, t4, '/task/');
  expectEmpty200('POST /task/ (trailing slash) → 200, empty body', r4);
  const g5 = await getTask(A, t4.task_id);
  check('task posted via /task/ is readable on GET', g5.status === 200 && lc(g5.json?.task_id) === lc(t4.task_id), obs(g5));

  // content-type with charset (what Java clients send)
  const t5 = mkTask();
  const r5 = await postTask(A, t5, '/task', { headers: { 'content-type': 'application/json; charset=utf-8' } });
  expectEmpty200('POST /task with Content-Type "application/json; charset=utf-8" → 200', r5);

  // upper-case hex is allowed by the UUID pattern
  const t6 = mkTask({ task_id: uuid().toUpperCase(), test_id: uuid().toUpperCase() });
  const r6 = await postTask(A, t6);
  expectEmpty200('POST /task with upper-case hex UUIDs (allowed by the UUID pattern) → 200', r6);
  const g6 = await getTask(B, t6.task_id);
  check('GET /task/<UPPER-CASE-UUID> finds that task', g6.status === 200 && lc(g6.json?.task_id) === lc(t6.task_id), obs(g6));

  // unknown / malformed ids
  const g7 = await getTask(A, uuid());
  expectStatus('GET /task/<unknown uuid> → 404 with JSON error', g7, 404);
  const g8 = await getTask(A, 'not-a-uuid');
  expectStatus('GET /task/not-a-uuid → 400 or 404 with JSON error', g8, [400, 404]);
  const g9 = await getTask(A, `${uuid()}0`);
  expectStatus('GET /task/<uuid with an extra char> → 400 or 404 with JSON error', g9, [400, 404]);
});

// ---- §2.3 validation
group('POST /task validation', async () => {
  const cases = [
    ['missing task_id', (t) => delete t.task_id],
    ['missing test_id', (t) => delete t.test_id],
    ['missing task_type', (t) => delete t.task_type],
    ['missing task_version', (t) => delete t.task_version],
    ['task_version as string "1"', (t) => (t.task_version = '1')],
    ['task_version 1.5 (not an integer)', (t) => (t.task_version = 1.5)],
    ['task_version null', (t) => (t.task_version = null)],
    ['task_version true', (t) => (t.task_version = true)],
    ['task_type as number', (t) => (t.task_type = 5)],
    ['task_type null', (t) => (t.task_type = null)],
    ['task_type object', (t) => (t.task_type = { a: 1 })],
    ['task_data as string', (t) => (t.task_data = 'x')],
    ['task_data as array', (t) => (t.task_data = [1, 2])],
    ['task_data null', (t) => (t.task_data = null)],
    ['task_data as number', (t) => (t.task_data = 5)],
    ['task_id not a UUID', (t) => (t.task_id = 'not-a-uuid')],
    ['task_id as number', (t) => (t.task_id = 12345)],
    ['task_id empty string', (t) => (t.task_id = '')],
    ['task_id UUID without hyphens', (t) => (t.task_id = uuid().replace(/-/g, ''))],
    ['task_id UUID with an extra char', (t) => (t.task_id = `${uuid()}a`)],
    ['task_id with non-hex chars', (t) => (t.task_id = `${uuid().slice(0, 35)}g`)],
    ['test_id not a UUID', (t) => (t.test_id = 'not-a-uuid')],
    ['test_id null', (t) => (t.test_id = null)],
    ['unknown extra field', (t) => (t.extra_field = 1)],
  ];
  const rejectedIds = [];
  for (const [label, mut] of cases) {
    const t = mkTask();
    mut(t);
    const r = await postTask(A, t);
    expect400(`POST /task ${label} → 400`, r);
    if (typeof t.task_id === 'string' && UUID_RE.test(t.task_id)) rejectedIds.push(t.task_id);
  }
  const leaked = [];
  for (const id of rejectedIds) {
    const g = await getTask(B, id);
    if (g.status !== 404) leaked.push(`${id}: ${obs(g)}`);
  }
  check(`rejected POST /task bodies were not stored (GET → 404 for all ${rejectedIds.length})`, leaked.length === 0, leaked.join('; '));
});

// ---- §2.3 duplicate task_id
group('POST /task duplicate ids', async () => {
  const t = await createTask(A, { task_data: { original: true } });
  const r1 = await postTask(A, t);
  expectEmpty200('POST /task repeating an accepted task (same body, same replica) → 200', r1);
  const r1b = await postTask(B, t);
  expectEmpty200('POST /task repeating an accepted task (same body, other replica) → 200', r1b);
  const r2 = await postTask(B, { ...t, test_id: uuid(), task_type: newType(), task_data: { original: false } });
  expect400('POST /task with an already used task_id (different body, other replica) → 400', r2);
  const r2b = await postTask(A, { ...t, task_data: { original: true, extra: 1 } });
  expect400('POST /task with an already used task_id (other task_data only) → 400', r2b);
  const g = await getTask(A, t.task_id);
  check(
    'the repeated posts changed nothing (GET shows the original)',
    g.status === 200 && deepEqual(g.json?.task_data, { original: true }) && g.json?.task_type === t.task_type,
    obs(g),
  );
  const once = await poll(A, uuid(), caps([t.task_type, t.task_version]), 5);
  const twice = await poll(B, uuid(), caps([t.task_type, t.task_version]), 5);
  check(
    'a repeated task is queued once (one hand-out, then none)',
    tasksOf(once)?.length === 1 && tasksOf(twice)?.length === 0,
    `${obs(once)} ${obs(twice)}`,
  );

  // after the task finished
  const { t: tf } = await createClaimed();
  const rr = await respond(A, tf.task_id, { task_data: { done: 1 } });
  must(rr.status === 200, 'posting a result', rr);
  const w = await waitFinished(A, tf.task_id, SETTLE_MS);
  must(w.done, 'waiting for the result to be visible', w.r);
  const r3 = await postTask(B, tf);
  expectEmpty200('POST /task repeating a completed task (same body) → 200', r3);
  const r3b = await postTask(A, { ...tf, task_data: { other: 1 } });
  expect400('POST /task reusing the id of a completed task for another task → 400', r3b);
  const g2 = await getTask(A, tf.task_id);
  check('completed task unchanged after the duplicate post', g2.status === 200 && deepEqual(g2.json?.task_result, { done: 1 }), obs(g2));

  // two replicas at the same moment
  const rounds = 6;
  const bad = [];
  const notWinner = [];
  for (let i = 0; i < rounds; i++) {
    const id = uuid();
    const type = newType();
    const ta = { task_id: id, test_id: uuid(), task_type: type, task_version: 1, task_data: { from: 'A' } };
    const tb = { ...ta, test_id: uuid(), task_data: { from: 'B' } };
    remember(ta);
    const [ra, rb] = await Promise.all([postTask(A, ta), postTask(B, tb)]);
    const statuses = [ra.status, rb.status].sort().join(',');
    const loser = ra.status === 200 ? rb : ra;
    if (statuses !== '200,400' || !isErrShape(loser)) {
      bad.push(`round ${i}: replica1 ${obs(ra)} | replica2 ${obs(rb)}`);
      continue;
    }
    const winner = ra.status === 200 ? 'A' : 'B';
    const [ga, gb] = await Promise.all([getTask(A, id), getTask(B, id)]);
    if (!(ga.json?.task_data?.from === winner && gb.json?.task_data?.from === winner)) {
      notWinner.push(`round ${i}: winner ${winner}; replica1 GET ${obs(ga)}; replica2 GET ${obs(gb)}`);
    }
  }
  check(
    `same new task_id posted to both replicas at once: exactly one 200 and one 400 (${rounds} rounds)`,
    bad.length === 0,
    bad.join(' ;; '),
  );
  check('…and the stored task is the one that got the 200', notWinner.length === 0, notWinner.join(' ;; '));
});

// ---- §2.1 poll response shape
group('POST /tasks response shape', async () => {
  const data = { url: 'http://example.com', deep: { x: [1, 2, 3] } };
  const t = await createTask(A, { task_data: data, task_version: 3 });
  const agent = uuid();
  const sent = Date.now();
  const r = await poll(B, agent, caps([t.task_type, 3]), 5);
  const j = r.json || {};
  check('POST /tasks → 200', r.status === 200, obs(r));
  check('poll response has exactly the keys tasks and return_time', sameKeys(j, ['tasks', 'return_time']), obs(r));
  check('poll response tasks is an array', Array.isArray(j.tasks), obs(r));
  const tk = Array.isArray(j.tasks) ? j.tasks : [];
  check(
    'poll hands out the waiting matching task (posted on the other replica)',
    tk.length === 1 && lc(tk[0]?.task_id) === lc(t.task_id),
    obs(r),
  );
  check(
    'each handed-out task has exactly task_id, task_type, task_version, task_data',
    tk.length > 0 && tk.every((x) => sameKeys(x, ['task_id', 'task_type', 'task_version', 'task_data'])),
    obs(r),
  );
  check(
    'handed-out task carries the posted task_type, task_version and task_data',
    tk.length === 1 && tk[0].task_type === t.task_type && tk[0].task_version === 3 && deepEqual(tk[0].task_data, data),
    obs(r),
  );
  check(
    'return_time is ISO 8601 with a time-zone offset (Z, ±hh:mm or ±hhmm)',
    TZ_RE.test(j.return_time ?? '') && !Number.isNaN(parseTs(j.return_time)),
    obs(r),
  );
  check(
    'return_time is in the future',
    parseTs(j.return_time) > sent,
    () => `${obs(r)} (local clock at request ${new Date(sent).toISOString()})`,
  );

  const g = await getTask(A, t.task_id);
  check(
    'a claimed (but unfinished) task still carries none of the four finished keys',
    g.status === 200 && finishedKeysPresent(g.json).length === 0,
    obs(g),
  );

  const r2 = await poll(A, uuid(), caps([t.task_type, 3]), 5);
  check('a second agent does not get the already handed-out task', tasksOf(r2)?.length === 0, obs(r2));
  const r3 = await poll(B, agent, caps([t.task_type, 3]), 5);
  check('the same agent does not get the task again on its next poll', tasksOf(r3)?.length === 0, obs(r3));

  // empty result shape
  const r4 = await poll(A, uuid(), caps(newType()), 5);
  check(
    'poll with nothing to do → 200 {tasks: [], return_time}',
    r4.status === 200 && sameKeys(r4.json, ['tasks', 'return_time']) && tasksOf(r4)?.length === 0,
    obs(r4),
  );
});

// ---- §2.1 capability matching
group('POST /tasks capability matching', async () => {
  const t = await createTask(A, { task_version: 2 });
  const r1 = await poll(A, uuid(), caps([t.task_type, 1]), 10);
  check('agent with the same task_type but another version gets nothing', tasksOf(r1)?.length === 0, obs(r1));
  const r2 = await poll(B, uuid(), caps([newType(), 2]), 10);
  check('agent with another task_type (same version) gets nothing', tasksOf(r2)?.length === 0, obs(r2));
  const r2b = await poll(B, uuid(), caps([t.task_type.toUpperCase(), 2]), 10);
  check('task_type matching is exact (upper-cased type gets nothing)', tasksOf(r2b)?.length === 0, obs(r2b));
  const r3 = await poll(B, uuid(), caps([t.task_type, 2]), 10);
  check('agent with matching (task_type, task_version) gets the task', ids(r3)?.length === 1 && ids(r3)[0] === lc(t.task_id), obs(r3));

  // capability list of several types, only matching ones handed out
  const X = newType();
  const Y = newType();
  const Z = newType();
  const tx = await createTask(A, { task_type: X });
  const ty = await createTask(A, { task_type: Y });
  const tz = await createTask(B, { task_type: Z });
  const r4 = await poll(A, uuid(), caps(X, Y), 10);
  const got = new Set(ids(r4) || []);
  check(
    'agent with capabilities {X, Y} gets exactly the X and Y tasks, not Z',
    got.size === 2 && got.has(lc(tx.task_id)) && got.has(lc(ty.task_id)) && !got.has(lc(tz.task_id)),
    obs(r4),
  );
  const r5 = await poll(B, uuid(), caps(Z), 10);
  check('…and the Z task is still waiting for a Z agent', ids(r5)?.length === 1 && ids(r5)[0] === lc(tz.task_id), obs(r5));
});

// ---- §2.1 oldest first across all capabilities
group('POST /tasks oldest first', async () => {
  const X = newType();
  const Y = newType();
  const order = [];
  for (const type of [X, Y, X, Y, Y, X]) {
    const t = await createTask(order.length % 2 ? B : A, { task_type: type });
    order.push(lc(t.task_id));
    await sleep(60);
  }
  const agent = uuid();
  const seq = [];
  const obsList = [];
  for (let i = 0; i < order.length + 1; i++) {
    // capabilities listed Y first so that "first capability first" is caught
    const r = await poll(i % 2 ? A : B, agent, caps(Y, X), 1);
    obsList.push(obs(r));
    const got = ids(r);
    if (!got) break;
    if (got.length > 1) {
      seq.push('TOO-MANY');
      break;
    }
    if (got.length === 0) break;
    seq.push(got[0]);
  }
  check(
    'oldest first across capabilities: A (type X) posted before B (type Y) → agent with {Y, X}, max_tasks 1 gets A first',
    seq[0] === order[0],
    () => `expected ${order[0]} first; got sequence ${seq.join(', ')}; last poll ${obsList.at(-1)}`,
  );
  check(
    'successive max_tasks 1 polls hand out all six tasks in posting order, then nothing',
    deepEqual(seq, order),
    () => `expected ${order.join(', ')}; got ${seq.join(', ')}; last poll ${obsList.at(-1)}`,
  );

  // a multi-task poll takes the oldest ones
  const P = newType();
  const Q = newType();
  const a = await createTask(A, { task_type: P });
  await sleep(60);
  const b = await createTask(A, { task_type: Q });
  await sleep(60);
  const c = await createTask(A, { task_type: P });
  const r = await poll(B, uuid(), caps(Q, P), 2);
  const got = new Set(ids(r) || []);
  check(
    'max_tasks 2 over {P, Q} with tasks P1, Q1, P2 (in that order) gets P1 and Q1',
    got.size === 2 && got.has(lc(a.task_id)) && got.has(lc(b.task_id)) && !got.has(lc(c.task_id)),
    obs(r),
  );
});

// ---- §2.1 max_tasks
group('POST /tasks max_tasks', async () => {
  const T = newType();
  const t = await createTask(A, { task_type: T });
  const r0 = await poll(A, uuid(), caps(T), 0);
  check('max_tasks 0 → 200 with no tasks even though a matching task waits', tasksOf(r0)?.length === 0, obs(r0));
  const r1 = await poll(B, uuid(), caps(T), 1);
  check('…and that task was not claimed by the max_tasks 0 poll', ids(r1)?.length === 1 && ids(r1)[0] === lc(t.task_id), obs(r1));

  const U = newType();
  for (let i = 0; i < 3; i++) await createTask(A, { task_type: U });
  const agent = uuid();
  const r2 = await poll(B, agent, caps(U), 2);
  check('max_tasks 2 with 3 matching tasks waiting → exactly 2 tasks', tasksOf(r2)?.length === 2, obs(r2));
  const r3 = await poll(A, agent, caps(U), 5);
  check('next poll (max_tasks 5) gets the remaining 1', tasksOf(r3)?.length === 1 && !ids(r2).includes(ids(r3)[0]), obs(r3));
});

// ---- §2.1 validation
group('POST /tasks validation', async () => {
  const T = newType();
  const t = await createTask(A, { task_type: T });
  const base = () => pollBody(uuid(), caps(T), 5, { agent_location: { country: 'FI', region: '18', latitude: 60.17, longitude: 24.94 } });
  const cases = [
    ['missing protocol', (b) => delete b.protocol],
    ['missing agent_id', (b) => delete b.agent_id],
    ['missing agent_name', (b) => delete b.agent_name],
    ['missing agent_time', (b) => delete b.agent_time],
    ['missing agent_capabilities', (b) => delete b.agent_capabilities],
    ['missing max_tasks', (b) => delete b.max_tasks],
    ['protocol 2', (b) => (b.protocol = 2)],
    ['protocol 0', (b) => (b.protocol = 0)],
    ['protocol as string "1"', (b) => (b.protocol = '1')],
    ['protocol null', (b) => (b.protocol = null)],
    ['protocol 1.5', (b) => (b.protocol = 1.5)],
    ['max_tasks -1', (b) => (b.max_tasks = -1)],
    ['max_tasks 1.5', (b) => (b.max_tasks = 1.5)],
    ['max_tasks as string "3"', (b) => (b.max_tasks = '3')],
    ['max_tasks null', (b) => (b.max_tasks = null)],
    ['agent_id not a UUID', (b) => (b.agent_id = 'agent-1')],
    ['agent_id as number', (b) => (b.agent_id = 5)],
    ['agent_name as number', (b) => (b.agent_name = 5)],
    ['agent_name null', (b) => (b.agent_name = null)],
    ['agent_time as number', (b) => (b.agent_time = 1700000000)],
    ['agent_time null', (b) => (b.agent_time = null)],
    ['agent_capabilities as array', (b) => (b.agent_capabilities = [T])],
    ['agent_capabilities as string', (b) => (b.agent_capabilities = T)],
    ['agent_capabilities null', (b) => (b.agent_capabilities = null)],
    ['capability with an extra key', (b) => (b.agent_capabilities[T] = { version: 1, extra: true })],
    ['capability version as string', (b) => (b.agent_capabilities[T] = { version: '1' })],
    ['capability version 1.5', (b) => (b.agent_capabilities[T] = { version: 1.5 })],
    ['capability without version', (b) => (b.agent_capabilities[T] = {})],
    ['capability as a number', (b) => (b.agent_capabilities[T] = 1)],
    ['capability null', (b) => (b.agent_capabilities[T] = null)],
    ['agent_location.country 3 chars', (b) => (b.agent_location.country = 'FIN')],
    ['agent_location.country 1 char', (b) => (b.agent_location.country = 'F')],
    ['agent_location.country as number', (b) => (b.agent_location.country = 12)],
    ['agent_location.region 1 char', (b) => (b.agent_location.region = '1')],
    ['agent_location.region 5 chars', (b) => (b.agent_location.region = '12345')],
    ['agent_location.region as number', (b) => (b.agent_location.region = 18)],
    ['agent_location without country', (b) => delete b.agent_location.country],
    ['agent_location without region', (b) => delete b.agent_location.region],
    ['agent_location with an extra key', (b) => (b.agent_location.city = 'Helsinki')],
    ['agent_location.latitude as string', (b) => (b.agent_location.latitude = '60.17')],
    ['agent_location.longitude as string', (b) => (b.agent_location.longitude = 'east')],
    ['agent_location as array', (b) => (b.agent_location = ['FI', '18'])],
    ['agent_location as string', (b) => (b.agent_location = 'FI-18')],
    ['unknown top-level field', (b) => (b.extra_field = 1)],
  ];
  for (const [label, mut] of cases) {
    const b = base();
    mut(b);
    const r = await req(label.length % 2 ? A : B, 'POST', '/tasks', b);
    expect400(`POST /tasks ${label} → 400`, r);
  }
  const r = await poll(B, uuid(), caps(T), 5);
  check(
    `after ${cases.length} rejected polls the matching task is still unclaimed`,
    ids(r)?.length === 1 && ids(r)[0] === lc(t.task_id),
    obs(r),
  );

  // valid variants (nothing waits for these fresh types)
  const V = newType();
  const valids = [
    ['without agent_location (Python agent)', {}],
    ['with agent_location {country, region}', { agent_location: { country: 'FI', region: '18' } }],
    [
      'with agent_location incl. latitude/longitude and a 4-char region',
      { agent_location: { country: 'US', region: 'CA-1', latitude: -33.5, longitude: 151 } },
    ],
    ['with agent_time "2026-11-25T14:00:00.123456+0300" (Java agent)', { agent_time: '2026-11-25T14:00:00.123456+0300' }],
    ['with agent_time "2026-11-25T14:00:00+03:00"', { agent_time: '2026-11-25T14:00:00+03:00' }],
    ['with agent_time "2026-11-25T14:00:00.000Z"', { agent_time: '2026-11-25T14:00:00.000Z' }],
    ['with agent_time that is not a date at all', { agent_time: 'yesterday-ish' }],
    ['with agent_time ""', { agent_time: '' }],
    ['with empty agent_capabilities {}', { agent_capabilities: {} }],
    ['with 12 capabilities', { agent_capabilities: caps(...Array.from({ length: 12 }, () => newType())) }],
  ];
  for (const [label, extra] of valids) {
    const b = pollBody(uuid(), caps(V), 1, extra);
    const r2 = await req(A, 'POST', '/tasks', b);
    check(
      `POST /tasks ${label} → 200`,
      r2.status === 200 && Array.isArray(r2.json?.tasks) && typeof r2.json?.return_time === 'string',
      obs(r2),
    );
  }

  // trailing slash, Java-style body, and it actually hands out a task
  const J = newType();
  const tj = await createTask(A, { task_type: J });
  const rj = await req(
    B,
    'POST',
    '/tasks/',
    pollBody(uuid(), caps(J), 1, {
      agent_time: '2026-11-25T14:00:00.123456+0300',
      agent_location: { country: 'FI', region: '18', latitude: 60.1, longitude: 24.9 },
    }),
    { headers: { 'content-type': 'application/json; charset=UTF-8' } },
  );
  check(
    'POST /tasks/ (trailing slash, Java agent style) → 200 and hands out the task',
    ids(rj)?.length === 1 && ids(rj)[0] === lc(tj.task_id),
    obs(rj),
  );

  // agent re-polls with different capabilities: replaced, not merged
  const K1 = newType();
  const K2 = newType();
  const agent = uuid();
  const ra = await poll(A, agent, caps(K1), 0);
  must(ra.status === 200, 'first poll', ra);
  const tk1 = await createTask(A, { task_type: K1 });
  const rb = await poll(B, agent, caps(K2), 5);
  check('capabilities are replaced by each poll (agent now only declaring K2 does not get a K1 task)', tasksOf(rb)?.length === 0, obs(rb));
  const rc = await poll(A, uuid(), caps(K1), 5);
  must(ids(rc)?.includes(lc(tk1.task_id)), 'cleanup claim of K1 task', rc);
});

// ---- §2.2 results: validation and happy path
group('POST /tasks/response', async () => {
  const { t } = await createClaimed();
  const cases = [
    ['with both task_data and task_error', { protocol: 1, task_id: t.task_id, task_data: { a: 1 }, task_error: 'x' }],
    ['with neither task_data nor task_error', { protocol: 1, task_id: t.task_id }],
    ['task_data as array', { protocol: 1, task_id: t.task_id, task_data: [1] }],
    ['task_data as string', { protocol: 1, task_id: t.task_id, task_data: 'done' }],
    ['task_data null', { protocol: 1, task_id: t.task_id, task_data: null }],
    ['task_data as number', { protocol: 1, task_id: t.task_id, task_data: 5 }],
    ['task_error as number', { protocol: 1, task_id: t.task_id, task_error: 5 }],
    ['task_error null', { protocol: 1, task_id: t.task_id, task_error: null }],
    ['task_error as object', { protocol: 1, task_id: t.task_id, task_error: { msg: 'x' } }],
    ['unknown extra field', { protocol: 1, task_id: t.task_id, task_data: { a: 1 }, extra: 1 }],
    ['protocol 2', { protocol: 2, task_id: t.task_id, task_data: { a: 1 } }],
    ['protocol 0', { protocol: 0, task_id: t.task_id, task_data: { a: 1 } }],
    ['protocol as string "1"', { protocol: '1', task_id: t.task_id, task_data: { a: 1 } }],
    ['missing protocol', { task_id: t.task_id, task_data: { a: 1 } }],
    ['missing task_id', { protocol: 1, task_data: { a: 1 } }],
    ['task_id not a UUID', { protocol: 1, task_id: 'not-a-uuid', task_data: { a: 1 } }],
    ['task_id as number', { protocol: 1, task_id: 42, task_data: { a: 1 } }],
  ];
  for (const [i, [label, body]] of cases.entries()) {
    const r = await req(i % 2 ? A : B, 'POST', '/tasks/response', body);
    expect400(`POST /tasks/response ${label} → 400`, r);
  }
  await sleep(300);
  const g0 = await getTask(A, t.task_id);
  check('after the rejected results the task is still unfinished', g0.status === 200 && finishedKeysPresent(g0.json).length === 0, obs(g0));

  const result = { status: 'ok', elapsed_ms: 123, nested: { list: [1, 'b', null, { c: true }] }, text: 'ü✓' };
  const r1 = await respond(B, t.task_id, { task_data: result });
  expectEmpty200('POST /tasks/response with task_data for a claimed task → 200, empty body', r1);
  // second result immediately, before it is necessarily written anywhere
  const r2 = await respond(A, t.task_id, { task_data: { status: 'second' } });
  expect400('second result (different payload, immediately, other replica) → 400', r2);

  const w = await waitFinished(A, t.task_id, VISIBLE_MS);
  check(`result visible on GET /task/<id> within ${VISIBLE_MS / 1000} s${w.done ? ` (took ${w.elapsed} ms)` : ''}`, w.done, obs(w.r));
  if (!w.done) {
    const w2 = await waitFinished(A, t.task_id, SETTLE_MS);
    check(`result visible on GET /task/<id> eventually (within ${(VISIBLE_MS + SETTLE_MS) / 1000} s)`, w2.done, obs(w2.r));
  }
  const g = await getTask(B, t.task_id);
  const j = g.json || {};
  check(
    'completed task has task_completed and task_result, and neither task_failed nor task_error',
    Object.hasOwn(j, 'task_completed') &&
      Object.hasOwn(j, 'task_result') &&
      !Object.hasOwn(j, 'task_failed') &&
      !Object.hasOwn(j, 'task_error'),
    obs(g),
  );
  const tc = parseTs(j.task_completed);
  check(
    'task_completed is a timestamp parseable by Date and close to now',
    !Number.isNaN(tc) && Math.abs(tc - Date.now()) < 5 * 60_000,
    obs(g),
  );
  check('task_completed is ISO 8601 UTC (…Z or …+00:00)', ISO_UTC_RE.test(j.task_completed ?? ''), obs(g));
  check('task_result equals exactly what the agent sent', deepEqual(j.task_result, result), obs(g));
  check(
    'completed task keeps its task_id, test_id, task_type, task_version, task_data',
    lc(j.task_id) === lc(t.task_id) &&
      lc(j.test_id) === lc(t.test_id) &&
      j.task_type === t.task_type &&
      j.task_version === t.task_version &&
      deepEqual(j.task_data, t.task_data),
    obs(g),
  );

  const r3 = await respond(B, t.task_id, { task_data: result });
  expectEmpty200('the same result again (after it is visible) → 200, a safe retry', r3);
  const r4 = await respond(A, t.task_id, { task_error: 'late error' });
  expect400('task_error for a task that already has a result → 400', r4);
  await sleep(300);
  const g2 = await getTask(A, t.task_id);
  check(
    'GET still shows the first result after the refused duplicates',
    g2.status === 200 && deepEqual(g2.json?.task_result, result) && !Object.hasOwn(g2.json, 'task_error'),
    obs(g2),
  );
  const r5 = await poll(A, uuid(), caps([t.task_type, t.task_version]), 5);
  check('a task with a result is never handed out again', tasksOf(r5)?.length === 0, obs(r5));

  // unknown task
  const r6 = await respond(A, uuid(), { task_data: { a: 1 } });
  expect400('result for an unknown task_id → 400', r6);
  const r7 = await respond(B, uuid(), { task_error: 'x' });
  expect400('error for an unknown task_id → 400', r7);

  // never claimed
  const tn = await createTask(A);
  const r8 = await respond(B, tn.task_id, { task_data: { a: 1 } });
  expect400('result for a task that was never claimed → 400', r8);
  const r9 = await respond(A, tn.task_id, { task_error: 'x' });
  expect400('error for a task that was never claimed → 400', r9);
  await sleep(300);
  const g3 = await getTask(A, tn.task_id);
  check(
    'never-claimed task is still unfinished after the refused results',
    g3.status === 200 && finishedKeysPresent(g3.json).length === 0,
    obs(g3),
  );
  const r10 = await poll(B, uuid(), caps(tn.task_type), 1);
  check('…and it is still handed out to an agent', ids(r10)?.length === 1 && ids(r10)[0] === lc(tn.task_id), obs(r10));

  // trailing slash, empty object result
  const { t: ts } = await createClaimed();
  const r11 = await respond(A, ts.task_id, { task_data: {} }, '/tasks/response/');
  expectEmpty200('POST /tasks/response/ (trailing slash) with task_data {} → 200', r11);
  const w3 = await waitFinished(B, ts.task_id, SETTLE_MS);
  check(
    'empty-object result shows as task_result {} with task_completed',
    w3.done && deepEqual(w3.r.json?.task_result, {}) && Object.hasOwn(w3.r.json, 'task_completed'),
    obs(w3.r),
  );

  // content-type with charset
  const { t: tc2 } = await createClaimed();
  const r12 = await req(
    B,
    'POST',
    '/tasks/response',
    { protocol: 1, task_id: tc2.task_id, task_data: { ok: 1 } },
    { headers: { 'content-type': 'application/json; charset=utf-8' } },
  );
  expectEmpty200('POST /tasks/response with Content-Type "application/json; charset=utf-8" → 200', r12);
});

// ---- §2.2 errors
group('POST /tasks/response with task_error', async () => {
  const { t } = await createClaimed();
  const msg = 'connection refused: ü✓ "quoted"';
  const r1 = await respond(A, t.task_id, { task_error: msg });
  expectEmpty200('POST /tasks/response with task_error for a claimed task → 200, empty body', r1);
  const r1b = await respond(B, t.task_id, { task_data: { late: true } });
  expect400('result for a task that already got an error (immediately, other replica) → 400', r1b);
  const w = await waitFinished(B, t.task_id, VISIBLE_MS);
  check(`error visible on GET within ${VISIBLE_MS / 1000} s${w.done ? ` (took ${w.elapsed} ms)` : ''}`, w.done, obs(w.r));
  if (!w.done) await waitFinished(B, t.task_id, SETTLE_MS);
  const g = await getTask(A, t.task_id);
  const j = g.json || {};
  check(
    'failed task has task_failed and task_error, and neither task_completed nor task_result',
    Object.hasOwn(j, 'task_failed') &&
      Object.hasOwn(j, 'task_error') &&
      !Object.hasOwn(j, 'task_completed') &&
      !Object.hasOwn(j, 'task_result'),
    obs(g),
  );
  check('task_error equals what the agent sent', j.task_error === msg, obs(g));
  const tf = parseTs(j.task_failed);
  check(
    'task_failed is a timestamp parseable by Date and close to now',
    !Number.isNaN(tf) && Math.abs(tf - Date.now()) < 5 * 60_000,
    obs(g),
  );
  check('task_failed is ISO 8601 UTC (…Z or …+00:00)', ISO_UTC_RE.test(j.task_failed ?? ''), obs(g));

  const r2 = await respond(A, t.task_id, { task_data: { late: true } });
  expect400('result for a task that got an error first (after it is visible) → 400', r2);
  const r3 = await respond(B, t.task_id, { task_error: 'second error' });
  expect400('second error for the same task → 400', r3);
  await sleep(300);
  const g2 = await getTask(B, t.task_id);
  check('GET still shows the first error', g2.json?.task_error === msg && !Object.hasOwn(g2.json, 'task_result'), obs(g2));
  const r4 = await postTask(A, { ...t, task_data: { reused: true } });
  expect400('POST /task reusing the id of a failed task for another task → 400', r4);
  const r5 = await poll(B, uuid(), caps(t.task_type), 5);
  check('a failed task is not handed out again', tasksOf(r5)?.length === 0, obs(r5));
});

// ---- §2.5 status
group('GET /status', async () => {
  const s = await req(A, 'GET', '/status');
  check(
    'GET /status → 200 with integer agents and tasks_waiting (≥ 0)',
    s.status === 200 &&
      Number.isInteger(s.json?.agents) &&
      Number.isInteger(s.json?.tasks_waiting) &&
      s.json.agents >= 0 &&
      s.json.tasks_waiting >= 0,
    obs(s),
  );
  const s2 = await req(B, 'GET', '/status/');
  check(
    'GET /status/ (trailing slash, other replica) → 200 with the same keys',
    s2.status === 200 && Number.isInteger(s2.json?.agents) && Number.isInteger(s2.json?.tasks_waiting),
    obs(s2),
  );

  const w0 = await req(A, 'GET', '/status');
  const t = await createTask(A);
  const w1 = await req(B, 'GET', '/status');
  check(
    'tasks_waiting increases after posting a task of a brand-new type',
    w1.status === 200 && w1.json?.tasks_waiting > w0.json?.tasks_waiting,
    `before ${obs(w0)}; after ${obs(w1)}`,
  );
  await claimTask(A, t);
  const w2 = await req(A, 'GET', '/status');
  check(
    'tasks_waiting decreases after that task is claimed',
    w2.status === 200 && w2.json?.tasks_waiting < w1.json?.tasks_waiting,
    `before claim ${obs(w1)}; after ${obs(w2)}`,
  );

  const a0 = await req(B, 'GET', '/status');
  const rp = await poll(A, uuid(), caps(newType()), 0);
  must(rp.status === 200, 'poll with a fresh agent', rp);
  const a1 = await req(B, 'GET', '/status');
  check(
    'agents increases after a brand-new agent polls (max_tasks 0)',
    a1.status === 200 && a1.json?.agents > a0.json?.agents,
    `before ${obs(a0)}; after ${obs(a1)}`,
  );
});

// ---- §2.6 errors and bad bodies
group('errors (§2.6)', async () => {
  const routes = [
    ['/task', () => mkTask()],
    ['/tasks', () => pollBody(uuid(), caps(newType()), 1)],
    ['/tasks/response', () => ({ protocol: 1, task_id: uuid(), task_data: {} })],
  ];
  for (const [path] of routes) {
    expect400(`POST ${path} with a body that is not JSON → 400`, await req(A, 'POST', path, undefined, { raw: '{not json' }));
    expect400(`POST ${path} with truncated JSON → 400`, await req(B, 'POST', path, undefined, { raw: '{"protocol": 1, "task_id":' }));
    expect400(
      `POST ${path} with no body (Content-Type application/json) → 400`,
      await req(A, 'POST', path, undefined, { noBody: true, headers: { 'content-type': 'application/json' } }),
    );
    expect400(`POST ${path} with no body and no Content-Type → 400`, await req(B, 'POST', path, undefined, { noBody: true }));
    for (const raw of ['[]', '"str"', 'null', '42', '{}', 'true']) {
      expect400(`POST ${path} with body ${raw} → 400`, await req(A, 'POST', path, undefined, { raw }));
    }
  }
  for (const [path, mk] of routes) {
    const r = await req(B, 'POST', path, undefined, { raw: JSON.stringify(mk()), headers: { 'content-type': 'text/plain' } });
    expectNot5xx(`POST ${path} with Content-Type text/plain and JSON text → not 5xx`, r);
    if (r.status >= 400 && r.status < 500) {
      check(`…its ${r.status} body is JSON with error and message`, isErrShape(r), obs(r));
    }
  }

  // very large bodies (invalid either way: they carry an unknown field)
  const big = 'x'.repeat(5 * 1024 * 1024);
  {
    const t = mkTask();
    const r = await req(A, 'POST', '/task', undefined, { raw: JSON.stringify({ ...t, junk: big }) });
    check(`POST /task with a 5 MB body → 4xx, not 5xx (got ${r.status || 'no response'})`, r.status >= 400 && r.status < 500, obs(r));
    if (r.status >= 400 && r.status < 500) check('…its body is JSON with error and message', isErrShape(r), obs(r));
  }
  {
    const r = await req(B, 'POST', '/tasks/response', undefined, {
      raw: JSON.stringify({ protocol: 1, task_id: uuid(), task_data: { junk: big }, extra: 1 }),
    });
    check(
      `POST /tasks/response with a 5 MB body → 4xx, not 5xx (got ${r.status || 'no response'})`,
      r.status >= 400 && r.status < 500,
      obs(r),
    );
  }
  {
    const r = await req(A, 'POST', '/tasks', undefined, { raw: '[' + '1,'.repeat(2 * 1024 * 1024) + '1]' });
    check(
      `POST /tasks with a 4 MB JSON array → 4xx, not 5xx (got ${r.status || 'no response'})`,
      r.status >= 400 && r.status < 500,
      obs(r),
    );
  }

  // unknown routes and methods
  expectStatus('GET /no-such-route → 404 with JSON error', await req(A, 'GET', `/no-such-route-${short()}`), 404);
  expectStatus('POST /no-such-route → 404 with JSON error', await req(B, 'POST', `/no-such-route-${short()}`, { a: 1 }), 404);
  expectStatus('GET /tasks (wrong method) → 404 or 405 with JSON error', await req(A, 'GET', '/tasks'), [404, 405]);
  expectStatus('GET /tasks/response (wrong method) → 404 or 405 with JSON error', await req(B, 'GET', '/tasks/response'), [404, 405]);
  expectStatus('DELETE /task/<id> → 404 or 405 with JSON error', await req(A, 'DELETE', `/task/${uuid()}`), [404, 405]);
});

// ---- §4 invariant 6: odd but syntactically valid input never gets a 5xx
group('odd input never 5xx (§4.6)', async () => {
  const odd = [
    ['task_version 2^31 (overflows a 32-bit int)', { task_version: 2 ** 31 }],
    ['task_version 1e20', { task_version: 1e20 }],
    ['task_version -1', { task_version: -1 }],
    ['a 10 000-char task_type', { task_type: `conf-${'t'.repeat(10_000)}` }],
    ['task_type ""', { task_type: '' }],
    ['task_data with a \\u0000 in a string', { task_data: { s: 'a\u0000b' } }],
    ['task_data with a \\u0000 in a key', { task_data: { 'k\u0000': 1 } }],
    ['task_data with a lone surrogate \\ud800', { task_data: { s: '\ud800' } }],
    ['task_data nested 200 levels deep', { task_data: JSON.parse('{"a":'.repeat(200) + '1' + '}'.repeat(200)) }],
  ];
  for (const [label, over] of odd) {
    const t = mkTask(over);
    const r = await postTask(A, t);
    const fine = r.status >= 200 && r.status < 500;
    if (r.status === 200) {
      const g = await getTask(B, t.task_id);
      check(`POST /task with ${label} → not 5xx; accepted (200) so it must be readable`, g.status === 200, `POST ${obs(r)}; GET ${obs(g)}`);
    } else {
      check(`POST /task with ${label} → not 5xx (got ${r.status || 'no response'})`, fine && isErrShape(r), obs(r));
    }
  }
  const r1 = await poll(A, uuid(), caps([newType(), 2 ** 40]), 1);
  expectNot5xx('POST /tasks with capability version 2^40 → not 5xx', r1);
  const r2 = await poll(B, uuid(), caps(newType()), 1_000_000_000);
  check('POST /tasks with max_tasks 1e9 (valid integer ≥ 0) → 200', r2.status === 200 && Array.isArray(r2.json?.tasks), obs(r2));
  const r3 = await poll(A, uuid(), caps(newType()), 2 ** 53);
  expectNot5xx('POST /tasks with max_tasks 2^53 → not 5xx', r3);

  // results that Postgres may not store: 200 must not be lost, otherwise 4xx
  for (const [label, data] of [
    ['\\u0000 in a string', { s: 'a\u0000b' }],
    ['a lone surrogate', { s: '\ud800' }],
  ]) {
    const { t } = await createClaimed();
    const r = await respond(B, t.task_id, { task_data: data });
    if (r.status === 200) {
      const w = await waitFinished(A, t.task_id, SETTLE_MS);
      check(`result with ${label} accepted (200) → must become visible on GET`, w.done, obs(w.r));
    } else {
      check(
        `result with ${label} → not 5xx (got ${r.status || 'no response'})`,
        r.status >= 400 && r.status < 500 && isErrShape(r),
        obs(r),
      );
    }
  }
});

// ---- §2.1 / §4.2 exactly one agent per task, across replicas
group('concurrency: claims', async () => {
  const rounds = 10;
  const bad = [];
  for (let i = 0; i < rounds; i++) {
    const t = await createTask(i % 2 ? A : B);
    const [r1, r2] = await Promise.all([poll(A, uuid(), caps(t.task_type), 1), poll(B, uuid(), caps(t.task_type), 1)]);
    const n1 = ids(r1);
    const n2 = ids(r2);
    if (!n1 || !n2 || n1.length + n2.length !== 1) bad.push(`round ${i}: replica1 ${obs(r1)} | replica2 ${obs(r2)}`);
  }
  check(
    `two agents polling both replicas at once for one task: exactly one gets it (${rounds} rounds)`,
    bad.length === 0,
    bad.join(' ;; '),
  );

  // 100 tasks, 20 agents
  const T = newType();
  const posted = [];
  const postFails = [];
  for (let batch = 0; batch < 5; batch++) {
    const ts = Array.from({ length: 20 }, (_, i) => mkTask({ task_type: T, task_data: { i: batch * 20 + i } }));
    const rs = await Promise.all(ts.map((t, i) => postTask(i % 2 ? A : B, t)));
    rs.forEach((r, i) => (r.status === 200 ? posted.push(lc(ts[i].task_id)) : postFails.push(obs(r))));
  }
  check(
    '100 tasks of one type posted concurrently (both replicas) → all 200',
    postFails.length === 0 && posted.length === 100,
    postFails.slice(0, 3).join(' ;; '),
  );

  const delivered = [];
  const pollErrors = [];
  const overLimit = [];
  const agentLoop = async (k) => {
    const agent = uuid();
    let empties = 0;
    for (let it = 0; it < 100 && empties < 2; it++) {
      const r = await poll((k + it) % 2 ? A : B, agent, caps(T), 3);
      const got = ids(r);
      if (!got) {
        pollErrors.push(obs(r));
        empties++;
        continue;
      }
      if (got.length > 3) overLimit.push(obs(r));
      if (got.length === 0) empties++;
      else empties = 0;
      delivered.push(...got);
    }
  };
  await Promise.all(Array.from({ length: 20 }, (_, k) => agentLoop(k)));
  const sweep = await poll(A, uuid(), caps(T), 1000);
  const leftovers = ids(sweep) || [];
  const counts = new Map();
  for (const id of delivered) counts.set(id, (counts.get(id) || 0) + 1);
  const dups = [...counts].filter(([, c]) => c > 1);
  const foreign = [...counts.keys()].filter((id) => !posted.includes(id));
  const missing = posted.filter((id) => !counts.has(id));
  check(
    '20 agents polling concurrently (max_tasks 3, alternating replicas): all polls 200',
    pollErrors.length === 0,
    `${pollErrors.length} failed polls, e.g. ${pollErrors.slice(0, 2).join(' ;; ')}`,
  );
  check('…no poll returned more than max_tasks (3) tasks', overLimit.length === 0, overLimit.slice(0, 2).join(' ;; '));
  check(
    '…no task delivered twice',
    dups.length === 0,
    `${dups.length} duplicated, e.g. ${dups
      .slice(0, 3)
      .map(([id, c]) => `${id}×${c}`)
      .join(', ')}`,
  );
  check(
    '…every task delivered (none missing, none foreign)',
    missing.length === 0 && foreign.length === 0,
    `${delivered.length} deliveries, ${missing.length} missing, ${foreign.length} foreign; afterwards a sweep poll found ${leftovers.length} still waiting (${obs(sweep)})`,
  );
  check('…nothing of that type is left waiting afterwards', sweep.status === 200 && leftovers.length === 0, obs(sweep));
});

// ---- §2.2 / §4.3 first result wins under concurrency
group('concurrency: first result wins', async () => {
  {
    const { t } = await createClaimed();
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => respond(i % 2 ? A : B, t.task_id, { task_data: { attempt: i } })));
    const oks = rs.map((r, i) => [r, i]).filter(([r]) => r.status === 200);
    const fours = rs.filter((r) => r.status === 400 && isErrShape(r));
    check(
      '10 different results sent concurrently through both replicas: exactly one 200 and nine 400',
      oks.length === 1 && fours.length === 9,
      rs.map((r) => r.status).join(','),
    );
    if (oks.length === 1) {
      const winner = oks[0][1];
      const w = await waitFinished(A, t.task_id, SETTLE_MS);
      const g2 = await getTask(B, t.task_id);
      check(
        '…GET (both replicas) shows the result that got the 200',
        w.done && deepEqual(w.r.json?.task_result, { attempt: winner }) && deepEqual(g2.json?.task_result, { attempt: winner }),
        `winner attempt ${winner}; replica1 ${obs(w.r)}; replica2 ${obs(g2)}`,
      );
    }
  }
  {
    const { t } = await createClaimed();
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        respond(i % 2 ? A : B, t.task_id, i % 2 ? { task_error: `error ${i}` } : { task_data: { attempt: i } }),
      ),
    );
    const oks = rs.map((r, i) => [r, i]).filter(([r]) => r.status === 200);
    const fours = rs.filter((r) => r.status === 400 && isErrShape(r));
    check(
      '5 results + 5 errors sent concurrently: exactly one 200 and nine 400',
      oks.length === 1 && fours.length === 9,
      rs.map((r) => r.status).join(','),
    );
    if (oks.length === 1) {
      const i = oks[0][1];
      const w = await waitFinished(B, t.task_id, SETTLE_MS);
      const j = w.r.json || {};
      const good =
        i % 2
          ? j.task_error === `error ${i}` &&
            Object.hasOwn(j, 'task_failed') &&
            !Object.hasOwn(j, 'task_result') &&
            !Object.hasOwn(j, 'task_completed')
          : deepEqual(j.task_result, { attempt: i }) &&
            Object.hasOwn(j, 'task_completed') &&
            !Object.hasOwn(j, 'task_error') &&
            !Object.hasOwn(j, 'task_failed');
      check('…GET shows exactly the winner (result or error) and nothing of the losers', w.done && good, `winner ${i}; ${obs(w.r)}`);
    }
  }
});

// ---------------------------------------------------------------- run

async function sweep() {
  // Claim whatever this run left waiting, so repeated runs don't grow tasks_waiting forever.
  // (The sweeping agents then go silent; the service fails those tasks per §3.)
  const buckets = [];
  for (const [t, v] of createdPairs.values()) {
    if (!t || t.length > 200) continue;
    let b = buckets.find((x) => !x[t] && Object.keys(x).length < 50);
    if (!b) buckets.push((b = {}));
    b[t] = { version: v };
  }
  for (const c of buckets) {
    const r = await poll(A, uuid(), c, 10_000);
    if (r.status !== 200) process.stderr.write(`note: cleanup sweep poll failed: ${obs(r)}\n`);
  }
}

const reach = await req(A, 'GET', '/status');
if (reach.status === 0) process.stderr.write(`note: ${A} does not answer (${reach.text}); every check will fail\n`);

for (const [name, fn] of groups) {
  try {
    await fn();
  } catch (e) {
    fail(`[${name}] group aborted`, e?.message || String(e));
  }
}
try {
  await sweep();
} catch (e) {
  process.stderr.write(`note: cleanup sweep failed: ${e?.message || e}\n`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
