/** Human-readable validation messages that name the offending field (SPEC §2.6). */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

function pathOf(part: string, path: PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`),
    part,
  );
}

/** A union's message comes from the branch that came closest to matching (fewest issues). */
function flatten(issue: Issue): Issue[] {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
    return closest.flatMap((inner) => flatten({ ...inner, path: [...issue.path, ...inner.path] } as Issue));
  }
  return [issue];
}

function describe(issue: Issue, part: string): string {
  const where = pathOf(part, issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return issue.path.length === 0 ? `${where}: missing; expected a JSON ${issue.expected}` : `${where}: required`;
  }
  return `${where}: ${issue.message}`;
}

/** One line naming each problem, e.g. `body.max_tasks: must be 0 or more`. */
export function describeIssues(issues: readonly Issue[], part: string): string {
  return issues
    .flatMap(flatten)
    .map((issue) => describe(issue, part))
    .join('; ');
}
