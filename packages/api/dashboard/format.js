// Times and durations as people read them. Times always carry their zone: an operator and a log may
// be in different ones.

export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const since = (iso) => (iso ? `${age((Date.now() - Date.parse(iso)) / 1000)} ago` : '–');

export const time = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false, timeZoneName: 'short' }) : '–');

/** A clock time with its zone, for chart axes. */
export const clock = (ms) =>
  new Date(ms).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });

/** Seconds between two wire times, e.g. "3.2 s"; null when either is missing. */
export const between = (from, to) => (from && to ? seconds((Date.parse(to) - Date.parse(from)) / 1000) : null);

export const seconds = (s) => (s === null || s === undefined ? '–' : s < 10 ? `${s.toFixed(s < 1 ? 3 : 1)} s` : age(s));

export const short = (id) => (id ? id.slice(0, 8) : '–');

export const json = (value) => JSON.stringify(value, null, 2);
