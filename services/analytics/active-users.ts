import type { Kysely, Transaction } from 'kysely'
import type { ActiveUsers } from '../../schemas/analytics.js'
import type { AnalyticsDailyUsersTable, AnalyticsUserDaysTable, Database } from '../database.js'
import { chunks, num } from './rows.js'
import { addDays, dayOf, daysBetween, iso, MINUTE_MS } from './time.js'

// DAU, WAU and MAU come from analytics_user_days (a user with a session on a UTC day); a finished day's
// figures are kept in analytics_daily_users, so that a 30-day chart does not count a month of rows each time.

/** A day's DAU, WAU and MAU are kept once the day has been over this long. */
const SEAL_MS = 5 * MINUTE_MS

/** Inserts user days; one for a finished day makes the kept DAU/WAU/MAU of that day and later ones stale. */
export async function insertUserDays (trx: Transaction<Database>, rows: AnalyticsUserDaysTable[], today: string): Promise<void> {
  if (rows.length === 0) return
  for (const chunk of chunks(rows)) {
    await trx.insertInto('analytics_user_days').values(chunk).onConflict((oc) => oc.columns(['day', 'user_id']).doNothing()).execute()
  }
  let earliest = today
  for (const { day } of rows) if (day < earliest) earliest = day
  if (earliest < today) await trx.deleteFrom('analytics_daily_users').where('day', '>=', earliest).execute()
}

/**
 * DAU, WAU and MAU of each day from `first` to `last`. Finished days are kept in analytics_daily_users;
 * the others are counted from analytics_user_days with sliding 7- and 30-day windows.
 */
export async function activeUsers (db: Kysely<Database>, first: string, last: string, now: number): Promise<Map<string, ActiveUsers>> {
  const out = new Map<string, ActiveUsers>()
  const kept = await db.selectFrom('analytics_daily_users').select(['day', 'dau', 'wau', 'mau'])
    .where('day', '>=', first).where('day', '<=', last).execute()
  for (const row of kept) out.set(row.day, { day: row.day, dau: num(row.dau), wau: num(row.wau), mau: num(row.mau) })
  const missing = daysBetween(first, last).filter((day) => !out.has(day))
  if (missing.length === 0) return out

  const from = missing[0] as string
  const to = missing[missing.length - 1] as string
  const rows = await db.selectFrom('analytics_user_days').select(['day', 'user_id'])
    .where('day', '>=', addDays(from, -29)).where('day', '<=', to).orderBy('day').execute()
  const usersOf = new Map<string, string[]>()
  for (const { day, user_id: user } of rows) {
    const list = usersOf.get(day)
    if (list === undefined) usersOf.set(day, [user])
    else list.push(user)
  }
  const week = new Map<string, number>()
  const month = new Map<string, number>()
  const enter = (window: Map<string, number>, users: string[] | undefined): void => {
    for (const u of users ?? []) window.set(u, (window.get(u) ?? 0) + 1)
  }
  const leave = (window: Map<string, number>, users: string[] | undefined): void => {
    for (const u of users ?? []) {
      const n = (window.get(u) ?? 0) - 1
      if (n <= 0) window.delete(u)
      else window.set(u, n)
    }
  }
  const sealedBefore = dayOf(now - SEAL_MS)
  const computedAt = iso(now)
  const toKeep: AnalyticsDailyUsersTable[] = []
  const wanted = new Set(missing)
  for (const day of daysBetween(addDays(from, -29), to)) {
    enter(week, usersOf.get(day))
    enter(month, usersOf.get(day))
    leave(week, usersOf.get(addDays(day, -7)))
    leave(month, usersOf.get(addDays(day, -30)))
    if (!wanted.has(day)) continue
    const figures = { day, dau: usersOf.get(day)?.length ?? 0, wau: week.size, mau: month.size }
    out.set(day, figures)
    if (day < sealedBefore) toKeep.push({ ...figures, computed_at: computedAt })
  }
  for (const chunk of chunks(toKeep)) {
    await db.insertInto('analytics_daily_users').values(chunk)
      .onConflict((oc) => oc.column('day').doUpdateSet((eb) => ({
        dau: eb.ref('excluded.dau'), wau: eb.ref('excluded.wau'), mau: eb.ref('excluded.mau'), computed_at: eb.ref('excluded.computed_at')
      })))
      .execute()
  }
  return out
}
