import { InvalidRangeError } from '../errors.js'

// Analytics works in UTC: a day is [00:00, 24:00) UTC, so every day is 86,400,000 ms long.
export const MINUTE_MS = 60_000
export const HOUR_MS = 60 * MINUTE_MS
export const DAY_MS = 24 * HOUR_MS

/** The latest instant an ISO string of four-digit years can hold; later ones would not compare as text. */
const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

export const iso = (ms: number): string => new Date(ms).toISOString()
/** `YYYY-MM-DD` of the UTC day holding `ms`. */
export const dayOf = (ms: number): string => iso(ms).slice(0, 10)
export const dayStart = (day: string): number => Date.parse(`${day}T00:00:00.000Z`)
export const floorTo = (ms: number, unit: number): number => ms - (((ms % unit) + unit) % unit)
export const addDays = (day: string, n: number): string => dayOf(dayStart(day) + n * DAY_MS)

/** Every day from `first` to `last`, both included. */
export function daysBetween (first: string, last: string): string[] {
  const out: string[] = []
  for (let ms = dayStart(first), end = dayStart(last); ms <= end; ms += DAY_MS) out.push(dayOf(ms))
  return out
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2})))?$/

/**
 * A range bound as the API takes it: `YYYY-MM-DD` (UTC midnight), an RFC 3339 date-time with `Z` or an offset,
 * or epoch milliseconds. Impossible calendar values (February 30, 24:00, offsets beyond ±23:59) are refused.
 */
export function parseInstant (text: string, name: string): number {
  let ms: number
  if (/^\d{1,15}$/.test(text)) {
    ms = Number(text)
  } else {
    const m = DATE_TIME.exec(text)
    if (m === null) throw new InvalidRangeError(`${name} is not a date, a date-time or epoch milliseconds`)
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', , sign, oh = '0', om = '0'] = m
    const year = Number(y)
    const month = Number(mo)
    const day = Number(d)
    const date = new Date(Date.UTC(year, month - 1, day))
    const validDate = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
    if (!validDate || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59 || Number(oh) > 23 || Number(om) > 59) {
      throw new InvalidRangeError(`${name} is not a valid date`)
    }
    const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * MINUTE_MS
    ms = date.getTime() + Number(h) * HOUR_MS + Number(mi) * MINUTE_MS + Number(s) * 1000 + Math.floor(Number(`0.${frac || '0'}`) * 1000) - offset
  }
  if (ms < 0 || ms > MAX_INSTANT) throw new InvalidRangeError(`${name} is outside the years 1970 to 9999`)
  return ms
}

export interface Range {
  from: number
  to: number
}

export interface RangeRules {
  /** the default `to` */
  now: number
  /** the default span when `from` is not given */
  defaultSpanMs: number
  maxSpanMs: number
}

/** Parses and checks `from` (included) and `to` (excluded). */
export function resolveRange (query: { from?: string, to?: string }, rules: RangeRules): Range {
  const to = query.to === undefined ? rules.now : parseInstant(query.to, 'to')
  const from = query.from === undefined ? Math.max(0, to - rules.defaultSpanMs) : parseInstant(query.from, 'from')
  if (from >= to) throw new InvalidRangeError('from must be before to')
  if (to - from > rules.maxSpanMs) {
    throw new InvalidRangeError(`the range spans more than ${describeSpan(rules.maxSpanMs)}`)
  }
  return { from, to }
}

function describeSpan (ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : `${ms / HOUR_MS} hours`
}
