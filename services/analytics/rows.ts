const CHUNK = 200

/** A count or sum as a number: an aggregate over no rows is null. */
export const num = (v: unknown): number => v === null || v === undefined ? 0 : Number(v)

/** Rows in groups small enough for one statement's parameters, on SQLite and PostgreSQL alike. */
export function chunks<T> (items: T[], size = CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
