/** Timestamps on the wire: ISO 8601 in UTC with an explicit offset (`+00:00`); agents need the offset. */
export function isoUtc(date: Date | number): string {
  return new Date(date).toISOString().replace(/Z$/, '+00:00');
}
