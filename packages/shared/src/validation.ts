/** Human-readable validation messages that name the offending field (docs/protocol.md). */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

/** `part` followed by a path in JS notation, e.g. `body.task_data.items[2]`. */
export function describePath(part: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`), part);
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
  const where = describePath(part, issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  }
  if (issue.input === undefined && issue.code !== 'custom') {
    if (issue.path.length > 0) return `${where}: required`;
    if (issue.code === 'invalid_type') return `${where}: missing; expected a JSON ${issue.expected}`;
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

/** Parses `data` with a schema; on failure, the message names each wrong field under `part`. */
export function validate<S extends z.ZodType>(
  schema: S,
  data: unknown,
  part: string,
): { success: true; value: z.output<S> } | { success: false; message: string } {
  // reportInput tells a missing field (input undefined) from a wrong one.
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return { success: true, value: result.data };
  return { success: false, message: describeIssues(result.error.issues, part) };
}
