// Issue 15: the OpenAPI document passes Redocly's recommended rules with no error and no warning, names
// every operation, and documents 401/403 exactly where the API answers them.
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from './harness.js';

const ADMIN = 'admin-token-openapi-0123456789';

interface Operation {
  operationId?: string;
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
}

let h: ApiHarness;
let text: string;
let operations: { method: string; path: string; operation: Operation }[];
beforeAll(async () => {
  h = await startApiHarness('openapi', {
    AGENT_TOKENS: 'agent-token-openapi-0123456789',
    BPMS_TOKENS: 'bpms-token-openapi-0123456789',
    ADMIN_TOKENS: ADMIN,
  });
  const response = await h.app.inject({ method: 'GET', url: '/docs/json', headers: { authorization: `Bearer ${ADMIN}` } });
  expect(response.statusCode).toBe(200);
  text = response.body;
  const paths = (JSON.parse(text) as { paths: Record<string, Record<string, Operation>> }).paths;
  operations = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
  );
});
afterAll(async () => {
  await h.close();
});

describe('the OpenAPI document', () => {
  it('passes the recommended rules of Redocly with no error and no warning', async () => {
    // Every recommended rule applies: none is turned off.
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: text, absoluteRef: 'openapi.json', config });
    expect(
      problems.map((problem) => `${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer})`),
    ).toEqual([]);
  });

  it("carries the project's license, as the root package.json has it", async () => {
    const root = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { license: string };
    expect(JSON.parse(text).info.license).toEqual({ name: root.license, identifier: root.license });
  });

  it('names every operation with an operationId of its own', () => {
    const ids = operations.map(({ method, path, operation }) => operation.operationId ?? `none for ${method} ${path}`);
    expect(ids.filter((id) => !/^[a-z][a-zA-Z]+$/.test(id))).toEqual([]);
    expect(ids.filter((id, index) => ids.indexOf(id) !== index)).toEqual([]);
  });

  it('documents 401 and 403 on exactly the operations that answer 401 without a token', async () => {
    expect(operations.length).toBeGreaterThan(10);
    for (const { method, path, operation } of operations) {
      const url = path.replace(/\{[^}]+\}/g, () => randomUUID());
      const response = await h.app.inject({ method: method as 'GET', url });
      const guarded = response.statusCode === 401;
      expect(
        Object.keys(operation.responses).filter((code) => code === '401' || code === '403'),
        `${method} ${path}`,
      ).toEqual(guarded ? ['401', '403'] : []);
      // Open routes say so, so that the document-wide bearer requirement does not apply to them.
      expect(operation.security === undefined || operation.security.length > 0, `${method} ${path} security`).toBe(guarded);
    }
  });

  it('documents the body errors where a body is read, and 429 on the poll', () => {
    for (const { method, path, operation } of operations.filter(({ operation }) => operation.requestBody)) {
      expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '408', '413', '503']));
    }
    expect(operations.filter(({ operation }) => '429' in operation.responses).map(({ operation }) => operation.operationId)).toEqual([
      'pollTasks',
    ]);
  });

  it('keeps the ids of the shared schemas, for requests and responses alike', () => {
    const schemas = Object.keys((JSON.parse(text) as { components: { schemas: Record<string, unknown> } }).components.schemas);
    expect(schemas).toEqual(expect.arrayContaining(['TaskPost', 'PollRequest', 'PollResponse', 'ResultPost', 'NewTask', 'ErrorBody']));
  });
});
