/**
 * Checks of Kubernetes manifests against kubernetes-models: its validators check types, required
 * fields and enums, but accept fields the API does not know (a misspelt `readinessProbe` would pass,
 * and the API server would refuse or drop it). `unknownFields` finds those, walking a document along
 * the package's type declarations.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';

/** The models of the kinds deploy/kubernetes uses, by `apiVersion/kind`, and where each is declared. */
export const MODELS = {
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap' },
  'v1/Secret': { model: Secret, module: 'kubernetes-models/v1/Secret' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment' },
  'batch/v1/Job': { model: Job, module: 'kubernetes-models/batch/v1/Job' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1/PodDisruptionBudget' },
} as const;

/** `pkg/sub/path` as the path of its `.d.ts`, looking for the package from `from` upwards. */
function declarationOf(specifier: string, from: string): string {
  if (specifier.startsWith('.')) return resolve(from, specifier.replace(/\.js$/, '.d.ts'));
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  const sub = parts.slice(name.split('/').length).join('/');
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return join(candidate, `${sub}.d.ts`);
    if (dirname(dir) === dir) throw new Error(`cannot find ${specifier}`);
  }
}

interface Shape {
  /** Field name → the declaration file of its object type, or null for a leaf (string, number, list of strings…). */
  fields: Map<string, string | null>;
}

const shapes = new Map<string, Shape | null>();

/** The fields of the interface a declaration file exports, or null when it declares a plain type. */
function shapeOf(file: string): Shape | null {
  if (shapes.has(file)) return shapes.get(file)!;
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    // String maps (labels, data) as one token, so each field is one `"name"?: type;`.
    .replace(/\{\s*\[key: string\]: ([^;]+);\s*\}/g, 'Map<$1>');
  const imports = new Map([...text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)].map(([, name, from]) => [name!, from!]));
  const body = /export interface I\w+(?: extends [\w, ]+)? \{([^}]*)\}/.exec(text)?.[1];
  let shape: Shape | null = null;
  if (body !== undefined) {
    shape = { fields: new Map() };
    for (const [, field, type] of body.matchAll(/"(\w+)"\??: ([^;]+);/g)) {
      const named = /^(?:Array<)?(I\w+)>?$/.exec(type!.trim())?.[1];
      const from = named ? imports.get(named) : undefined;
      shape.fields.set(field!, from ? declarationOf(from, dirname(file)) : null);
    }
  }
  shapes.set(file, shape);
  return shape;
}

/** Paths of the fields of `doc` that its kind does not declare, e.g. `spec.template.spec.containers.0.livenessProbee`. */
export function unknownFields(doc: unknown, module: string): string[] {
  const found: string[] = [];
  const here = fileURLToPath(new URL('.', import.meta.url));
  const walk = (value: unknown, file: string | null, path: string) => {
    if (file === null || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((item, index) => walk(item, file, `${path}${index}.`));
    const shape = shapeOf(file);
    if (shape === null) return;
    for (const [key, child] of Object.entries(value)) {
      if (!shape.fields.has(key)) found.push(`${path}${key}`);
      else walk(child, shape.fields.get(key)!, `${path}${key}.`);
    }
  };
  walk(doc, declarationOf(module, here), '');
  return found;
}
