#!/usr/bin/env node
// Summarises V8 CPU profiles (`.cpuprofile`, from AFM_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" npm run
// bench): the share of samples by package (self time), and the heaviest functions of AFM's own code,
// zod, kysely, pg, ioredis, BullMQ and Fastify by inclusive time. How BENCHMARKS.md's profile figures
// were read.
//   node tools/bench/profile-summary.mjs FILE.cpuprofile [--top 15]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
const top = Number(values.top);
const percent = (part, whole) => `${((100 * part) / whole).toFixed(1).padStart(5)} %`;

/** Where a frame's code comes from: an npm package, one of AFM's packages, Node, or V8 itself. */
function origin({ url, functionName }) {
  if (url.includes('node_modules/')) {
    const [scope, name] = url.split('node_modules/').at(-1).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  if (url.includes('/packages/')) return `afm:${url.split('/packages/')[1].split('/')[0]}`;
  if (url.startsWith('node:')) return 'node';
  return functionName || '(native)';
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + profile.timeDeltas[i]));
  const total = [...self.values()].reduce((sum, t) => sum + t, 0);

  const byOrigin = new Map();
  for (const [id, time] of self) {
    const key = origin(nodes.get(id).callFrame);
    byOrigin.set(key, (byOrigin.get(key) ?? 0) + time);
  }

  // Inclusive time per function, each counted once per stack (recursion is not counted twice).
  const inclusive = new Map();
  const walk = (id, onStack) => {
    const node = nodes.get(id);
    const frame = node.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/.*node_modules\//, '').replace(/.*\/packages\//, '')}:${frame.lineNumber + 1}`;
    let time = self.get(id) ?? 0;
    const first = !onStack.has(key);
    onStack.add(key);
    for (const child of node.children ?? []) time += walk(child, onStack);
    if (first) {
      onStack.delete(key);
      if (/(api|shared|worker)\/dist|zod|kysely|pg\/lib|ioredis|bullmq|fastify\//.test(key))
        inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
    return time;
  };
  walk(profile.nodes[0].id, new Set());

  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('\nself time by origin');
  for (const [key, time] of [...byOrigin].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${percent(time, total)}  ${key}`);
  console.log('\ninclusive time, libraries and AFM');
  for (const [key, time] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${percent(time, total)}  ${key}`);
}
