// Times and durations as people read them.

export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const since = (iso) => (iso ? `${age((Date.now() - Date.parse(iso)) / 1000)} ago` : '–');

export const time = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '–');

export const short = (id) => (id ? id.slice(0, 8) : '–');

export const json = (value) => JSON.stringify(value, null, 2);
