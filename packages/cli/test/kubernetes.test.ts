// Issue 15: the manifests under deploy/kubernetes, checked against the Kubernetes schemas
// (kubernetes-models), the CLI, the configuration keys and docker-compose.yml (no cluster runs here).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CONFIG_ALIASES, CONFIG_KEYS, ConfigError, loadConfig, SECRET_KEYS, type ConfigKey } from '@afm/shared/config';
import { buildCli } from '../src/cli.js';
import { MigrateCommand } from '../src/commands/migrate.js';
import { RunCommand, WorkerCommand } from '../src/commands/serve.js';
import { SHUTDOWN_BOUND_MS } from '../src/runtime/serve.js';
import { MODELS, unknownFields } from './support/kubernetes.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

// Loosely typed on purpose: the schemas are checked by kubernetes-models, the test reads what it asserts.
type Doc = Record<string, any>;

const DIR = 'deploy/kubernetes';
const documents: { file: string; doc: Doc }[] = readdirSync(root(DIR))
  .filter((file) => /\.ya?ml$/.test(file))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(root(`${DIR}/${file}`), 'utf8')).map((parsed) => {
      if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors[0]!.message}`);
      return { file, doc: parsed.toJS() as Doc };
    }),
  );

const object = (kind: string, name: string): Doc => {
  const found = documents.find(({ doc }) => doc.kind === kind && doc.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${DIR}`);
  return found.doc;
};
const pods = () =>
  documents
    .filter(({ doc }) => doc.kind === 'Deployment' || doc.kind === 'Job')
    .map(({ doc }) => ({ name: doc.metadata.name, pod: doc.spec.template }));
const container = (kind: string, name: string): Doc => object(kind, name).spec.template.spec.containers[0];

const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Doc> };
const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(readFileSync(root('Dockerfile'), 'utf8'))![1]!) as string[];

/** Kubernetes' binary quantities, in MiB. */
const mebibytes = (quantity: string) => {
  const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(quantity) ?? [];
  if (!amount) throw new Error(`unexpected quantity ${quantity}`);
  return Number(amount) * (unit === 'Gi' ? 1024 : 1);
};

/** The pods' environment: the ConfigMap and the Secret (envFrom), the secrets' placeholders replaced. */
const podEnv = (replace: (key: string, value: string) => string = (_, value) => value): Record<string, string> => ({
  ...object('ConfigMap', 'afm-config').data,
  ...Object.fromEntries(
    Object.entries(object('Secret', 'afm-secrets').stringData as Record<string, string>).map(([key, value]) => [key, replace(key, value)]),
  ),
});
const realTokens = (key: string, value: string) =>
  key.endsWith('_TOKENS') ? `${key.toLowerCase().replace('_', '-')}-0123456789abcdef` : value;

describe('deploy/kubernetes', () => {
  it('holds the objects of a deployment', () => {
    expect(documents.map(({ doc }) => `${doc.kind}/${doc.metadata?.name}`).sort()).toEqual([
      'ConfigMap/afm-config',
      'Deployment/afm-api',
      'Deployment/afm-worker',
      'Job/afm-migrate',
      'PodDisruptionBudget/afm-api',
      'Secret/afm-secrets',
      'Service/afm-api',
    ]);
  });

  it('is valid against the Kubernetes schemas, with no field the API does not know', () => {
    for (const { file, doc } of documents) {
      const what = `${file}: ${doc.kind}/${doc.metadata?.name}`;
      const known = MODELS[`${doc.apiVersion}/${doc.kind}` as keyof typeof MODELS];
      expect(known, `${what} (${doc.apiVersion})`).toBeDefined();
      expect(() => new known.model(doc as never).validate(), what).not.toThrow();
      expect(unknownFields(doc, known.module), what).toEqual([]);
    }
  });

  it('would find a broken manifest: a wrong type, a missing field, a misspelt field', () => {
    const broken = () => structuredClone(object('Deployment', 'afm-api'));
    const validate = (doc: Doc) => () => new MODELS['apps/v1/Deployment'].model(doc as never).validate();
    const wrongType = broken();
    wrongType.spec.replicas = 'two';
    expect(validate(wrongType)).toThrow(/replicas must be integer/);
    const missing = broken();
    delete missing.spec.template.spec.containers[0].name;
    expect(validate(missing)).toThrow(/must have required property name/);
    const misspelt = broken();
    misspelt.spec.template.spec.containers[0].readinessProbe.httpGet.pat = '/readyz';
    expect(validate(misspelt)).not.toThrow();
    expect(unknownFields(misspelt, MODELS['apps/v1/Deployment'].module)).toEqual([
      'spec.template.spec.containers.0.readinessProbe.httpGet.pat',
    ]);
  });

  it('runs the image compose builds, with the commands compose runs', () => {
    const cli = buildCli();
    const image = compose.services.worker!.image as string;
    expect(image).toBe('slamon-afm:local');
    for (const { name, pod } of pods()) for (const each of pod.spec.containers) expect(each.image, name).toBe(image);
    expect(container('Job', 'afm-migrate').args).toEqual(compose.services.migrate!.command);
    expect(cli.process(container('Job', 'afm-migrate').args)).toBeInstanceOf(MigrateCommand);
    expect(container('Deployment', 'afm-api').args).toEqual(compose.services['api-1']!.command);
    expect(cli.process(container('Deployment', 'afm-api').args)).toBeInstanceOf(RunCommand);
    expect(container('Deployment', 'afm-worker').args).toEqual(compose.services.worker!.command);
    expect(cli.process(container('Deployment', 'afm-worker').args)).toBeInstanceOf(WorkerCommand);
  });

  it('retries the migration as compose does, and runs it once', () => {
    const job = object('Job', 'afm-migrate');
    expect(compose.services.migrate!.restart).toBe(`on-failure:${job.spec.backoffLimit}`);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.completions ?? 1).toBe(1);
    expect(job.spec.parallelism ?? 1).toBe(1);
  });

  it('serves the API from several replicas behind a Service, probed on /healthz and /readyz', () => {
    const api = object('Deployment', 'afm-api');
    expect(api.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(api.spec.selector.matchLabels).toEqual(api.spec.template.metadata.labels);
    const main = container('Deployment', 'afm-api');
    expect(main.ports).toEqual([{ name: 'http', containerPort: Number(main.args[2]) }]);
    expect(main.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(main.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Redis only: replicas stay in the Service through a Postgres outage, as dispatch does.
    expect(main.readinessProbe.httpGet).toEqual({ path: '/readyz?stores=redis', port: 'http' });
    expect(compose.services['api-1']!.healthcheck.test.join(' ')).toContain('/readyz');
    const service = object('Service', 'afm-api');
    expect(service.spec.selector).toEqual(api.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http' }]);
    expect(object('PodDisruptionBudget', 'afm-api').spec.selector.matchLabels).toEqual(api.spec.template.metadata.labels);
  });

  it('gives a stopping replica the time its shutdown takes, after the Service let go of it', () => {
    const api = object('Deployment', 'afm-api').spec.template.spec;
    const [sleep, seconds] = container('Deployment', 'afm-api').lifecycle.preStop.exec.command;
    expect(sleep).toBe('sleep');
    expect(api.terminationGracePeriodSeconds).toBeGreaterThan(Number(seconds) + SHUTDOWN_BOUND_MS / 1000);
    const grace = (service: string) => Number(/^(\d+)s$/.exec(compose.services[service]!.stop_grace_period)![1]);
    expect(api.terminationGracePeriodSeconds).toBe(grace('api-1'));
    expect(object('Deployment', 'afm-worker').spec.template.spec.terminationGracePeriodSeconds).toBe(grace('worker'));
  });

  it("probes the worker with `worker --check`, as compose's healthcheck does", () => {
    const worker = container('Deployment', 'afm-worker');
    expect(object('Deployment', 'afm-worker').spec.selector.matchLabels).toEqual(
      object('Deployment', 'afm-worker').spec.template.metadata.labels,
    );
    for (const probe of [worker.livenessProbe, worker.startupProbe]) {
      const command = probe.exec.command as string[];
      expect(command.slice(0, entrypoint.length)).toEqual(entrypoint);
      expect(buildCli().process(command.slice(entrypoint.length))).toMatchObject({ check: true, any: false });
      expect(command).toEqual(compose.services.worker!.healthcheck.test.slice(1));
      // Each probe is a Node process started from scratch.
      expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(5);
    }
    expect(worker.readinessProbe).toBeUndefined(); // a worker serves nothing
  });

  it('runs every pod unprivileged on a read-only file system, with the memory the image asks for', () => {
    const user = /^USER (\S+)/m.exec(readFileSync(root('Dockerfile'), 'utf8'))![1];
    expect(user).toBe('node'); // uid 1000 in the node images
    for (const { name, pod } of pods()) {
      expect(pod.spec.securityContext, name).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
      expect(pod.spec.automountServiceAccountToken, name).toBe(false);
      for (const each of pod.spec.containers) {
        expect(each.securityContext, name).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        // The Dockerfile: give each container at least 256 MB.
        expect(mebibytes(each.resources.requests.memory), name).toBeGreaterThanOrEqual(256);
        expect(mebibytes(each.resources.limits.memory), name).toBeGreaterThanOrEqual(mebibytes(each.resources.requests.memory));
      }
    }
  });

  it('configures every pod from the ConfigMap and the Secret, with configuration keys only', () => {
    const keys = [...CONFIG_KEYS, ...Object.keys(CONFIG_ALIASES)];
    for (const { name, pod } of pods()) {
      for (const each of pod.spec.containers) {
        expect(each.envFrom, name).toEqual([{ configMapRef: { name: 'afm-config' } }, { secretRef: { name: 'afm-secrets' } }]);
        for (const variable of each.env ?? []) expect(keys, `${name} ${variable.name}`).toContain(variable.name);
      }
    }
    const data = Object.keys(object('ConfigMap', 'afm-config').data);
    const secrets = Object.keys(object('Secret', 'afm-secrets').stringData);
    for (const key of [...data, ...secrets]) expect(keys, key).toContain(key);
    for (const key of data) expect(SECRET_KEYS.has(key as ConfigKey), `${key} belongs in the Secret`).toBe(false);
    for (const key of secrets) expect(SECRET_KEYS.has(key as ConfigKey), `${key} belongs in the ConfigMap`).toBe(true);
  });

  it('refuses to start on the placeholder tokens, naming the key', () => {
    const placeholders = Object.entries(object('Secret', 'afm-secrets').stringData as Record<string, string>).filter(([, value]) =>
      value.includes('CHANGE-ME'),
    );
    expect(placeholders.map(([key]) => key)).toEqual(
      expect.arrayContaining(['DATABASE_URI', 'AGENT_TOKENS', 'BPMS_TOKENS', 'ADMIN_TOKENS']),
    );
    for (const [key] of placeholders.filter(([key]) => key.endsWith('_TOKENS'))) {
      const env = podEnv((other, value) => (other === key ? value : realTokens(other, value)));
      expect(() => loadConfig({ env }), key).toThrow(ConfigError);
      expect(() => loadConfig({ env }), key).toThrow(
        new RegExp(`^invalid configuration: ${key}="[*,]+" \\(from env\\): must be comma-separated tokens`),
      );
    }
  });

  it("agrees with compose's configuration once the secrets are filled in", () => {
    const { config } = loadConfig({ env: podEnv(realTokens) });
    const composeEnv = Object.fromEntries(
      Object.entries(compose.services.worker!.environment as Record<string, string>).map(([key, value]) => [
        key,
        value.replace(/\$\{\w+:?-([^}]*)\}/g, '$1'),
      ]),
    );
    const { config: composed } = loadConfig({ env: composeEnv });
    for (const key of Object.keys(composeEnv) as ConfigKey[]) {
      if (key === 'DATABASE_URI') continue;
      expect(config[key], key).toEqual(composed[key]);
    }
    const [ours, theirs] = [config, composed].map(({ DATABASE_URI }) => new URL(DATABASE_URI));
    expect([ours!.host, ours!.username, ours!.pathname]).toEqual([theirs!.host, theirs!.username, theirs!.pathname]);
    expect(config.AUTO_CREATE).toBe(false); // the Job migrates
  });
});
