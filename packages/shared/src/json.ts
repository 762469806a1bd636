/** Comparing JSON values as values: key order does not matter, nothing recurses on the input. */

/** True when two JSON values are equal: the same scalars, arrays item by item, objects key by key. */
export function sameJson(left: unknown, right: unknown): boolean {
  const pending: [unknown, unknown][] = [[left, right]];
  while (pending.length > 0) {
    const [a, b] = pending.pop()!;
    if (a === b) continue;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) {
      const other = b as unknown[];
      if (a.length !== other.length) return false;
      for (let index = 0; index < a.length; index++) pending.push([a[index], other[index]]);
    } else {
      const keys = Object.keys(a);
      if (keys.length !== Object.keys(b).length) return false;
      for (const key of keys) {
        if (!Object.hasOwn(b, key)) return false;
        pending.push([(a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]]);
      }
    }
  }
  return true;
}

/** A value as it comes back from storage: what JSON.stringify makes of it, parsed again (Infinity → null, …). */
export const asStored = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');
