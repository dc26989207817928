import { Type, type Static } from 'typebox'
import { withExamples } from './common.js'
import { DAILY_USERS_EXAMPLE, LIVE_EXAMPLE, MESSAGES_STATS_EXAMPLE, SUMMARY_EXAMPLE } from './examples.js'

/**
 * One end of a time range: a UTC date (`2026-11-25`, its midnight), an RFC 3339 date-time with `Z` or an
 * offset, or Unix epoch milliseconds. Impossible dates (`2026-02-30`) are refused by the service.
 */
export const RangeBound = (description: string) => Type.String({
  pattern: '^(?:\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:\\d{2}))?|\\d{1,15})$',
  description: `${description}: a UTC date (YYYY-MM-DD, its midnight), an RFC 3339 date-time with Z or an offset, or epoch milliseconds`
})

const from = Type.Optional(RangeBound('start of the range, included (default 30 days before `to`)'))
const to = Type.Optional(RangeBound('end of the range, excluded (default now)'))

export const RangeQuery = Type.Object({ from, to }, { additionalProperties: false })
export type RangeQuery = Static<typeof RangeQuery>

export const DailyUsersQuery = Type.Object({
  from: Type.Optional(RangeBound('the first day is the UTC day of this instant (default 29 days before the last day)')),
  to: Type.Optional(RangeBound('end, excluded: the last day is the UTC day just before this instant (default: today is the last day)'))
}, { additionalProperties: false })
export type DailyUsersQuery = Static<typeof DailyUsersQuery>

export const Interval = Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')], {
  description: 'bucket size of the series: minute (span ≤ 2 days), hour (≤ 125 days) or day (≤ 366 days); default hour'
})
export type Interval = Static<typeof Interval>

export const MessagesStatsQuery = Type.Object({
  from,
  to,
  interval: Type.Optional(Interval)
}, { additionalProperties: false })
export type MessagesStatsQuery = Static<typeof MessagesStatsQuery>

export const LiveQuery = Type.Object({
  minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 60, description: 'how many minutes of history' }))
}, { additionalProperties: false })
export type LiveQuery = Static<typeof LiveQuery>

const Count = (description?: string) => Type.Integer({ minimum: 0, description })
const Iso = Type.String({ description: 'RFC 3339 UTC with milliseconds' })
const Day = (description = 'UTC date YYYY-MM-DD') => Type.String({ description })
const NullableNumber = (description?: string) => Type.Union([Type.Number(), Type.Null()], { description })

export const MessageCounts = Type.Object({
  accepted: Count('passed every check and stored (direct, broadcast) or run (server)'),
  duplicate: Count('a resend of a message already stored'),
  delivered: Count('direct messages acknowledged by their recipient'),
  refused: Count('refused with an error frame or HTTP error')
})
export type MessageCounts = Static<typeof MessageCounts>

export const MessageTypeCounts = Type.Object({
  direct: MessageCounts,
  broadcast: MessageCounts,
  server: MessageCounts
})
export type MessageTypeCounts = Static<typeof MessageTypeCounts>

export const RefusalCount = Type.Object({ code: Type.String({ description: 'the refusal code of the error frame' }), count: Count() })

export const LatencySummary = Type.Object({
  count: Count('deliveries measured'),
  mean_ms: NullableNumber('exact mean; null without deliveries'),
  p50_ms: NullableNumber('upper bound of the histogram bucket holding the median (the largest bound when beyond it)'),
  p90_ms: NullableNumber('the same for the 90th percentile'),
  p99_ms: NullableNumber('the same for the 99th percentile')
}, { description: 'direct messages, from being stored to the recipient\'s ack' })
export type LatencySummary = Static<typeof LatencySummary>

export const ActiveUsers = Type.Object({
  day: Day(),
  dau: Count('users with a session on this UTC day'),
  wau: Count('users with a session in the 7 UTC days ending with this one'),
  mau: Count('users with a session in the 30 UTC days ending with this one')
})
export type ActiveUsers = Static<typeof ActiveUsers>

export const LiveFigures = Type.Object({
  connections: Count('open WebSocket connections of this server'),
  online_users: Count('users with at least one open connection')
})

export const SummaryResponse = withExamples(Type.Object({
  from: Iso,
  to: Iso,
  generated_at: Iso,
  live: LiveFigures,
  users: Type.Object({
    registered: Count('registered users now'),
    new: Count('registered within the range'),
    active: Count('users with a session overlapping the range')
  }),
  active_users: ActiveUsers,
  sessions: Type.Object({
    started: Count('sessions that began within the range'),
    ended: Count('sessions that ended within the range'),
    average_duration_s: NullableNumber('of the sessions that ended within the range; null when none did'),
    longest_duration_s: NullableNumber('the longest of them')
  }),
  messages: MessageCounts,
  messages_by_type: MessageTypeCounts,
  refused_by_code: Type.Array(RefusalCount, { description: 'most frequent first' }),
  delivery_latency: LatencySummary
}), [SUMMARY_EXAMPLE])
export type SummaryResponse = Static<typeof SummaryResponse>

export const DailyUsersDay = Type.Object({
  ...ActiveUsers.properties,
  new_users: Count('registered that day'),
  sessions_started: Count('sessions that began that day')
})
export type DailyUsersDay = Static<typeof DailyUsersDay>

export const DailyUsersResponse = withExamples(Type.Object({
  from: Day('the first day'),
  to: Day('the day after the last one'),
  days: Type.Array(DailyUsersDay, { description: 'every day of the range, oldest first, zeros included' })
}), [DAILY_USERS_EXAMPLE])
export type DailyUsersResponse = Static<typeof DailyUsersResponse>

export const MessagesStatsPoint = Type.Object({
  start: Iso,
  ...MessageCounts.properties,
  latency_p50_ms: NullableNumber('median delivery latency of the deliveries in this interval'),
  latency_p99_ms: NullableNumber('99th percentile of the same')
})
export type MessagesStatsPoint = Static<typeof MessagesStatsPoint>

export const MessagesStatsResponse = withExamples(Type.Object({
  from: Iso,
  to: Iso,
  interval: Interval,
  totals: MessageCounts,
  by_type: MessageTypeCounts,
  refused_by_code: Type.Array(RefusalCount, { description: 'most frequent first' }),
  delivery_latency: LatencySummary,
  series: Type.Array(MessagesStatsPoint, { description: 'one point per interval of the range, oldest first, zeros included' })
}), [MESSAGES_STATS_EXAMPLE])
export type MessagesStatsResponse = Static<typeof MessagesStatsResponse>

export const LivePoint = Type.Object({
  minute: Iso,
  connections: Count('the most connections seen in that minute'),
  online_users: Count('the most online users seen in that minute')
})

export const LiveResponse = withExamples(Type.Object({
  at: Iso,
  ...LiveFigures.properties,
  series: Type.Array(LivePoint, { description: 'one point per minute, oldest first; the current minute last' })
}), [LIVE_EXAMPLE])
export type LiveResponse = Static<typeof LiveResponse>
