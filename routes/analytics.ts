import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  DailyUsersQuery, DailyUsersResponse, LiveQuery, LiveResponse, MessagesStatsQuery, MessagesStatsResponse, RangeQuery, SummaryResponse
} from '../schemas/analytics.js'
import { ErrorRef } from '../schemas/common.js'

const RANGE_NOTE = 'Ranges are `[from, to)` in UTC; `from` and `to` take a date (`2026-11-25`, its midnight), an RFC 3339 ' +
  'date-time or epoch milliseconds. Message figures have minute resolution: a minute counts when it starts inside the range. ' +
  'A range that is too long or reversed is refused with `invalid_range`. Admin only (`ADMIN_USERS`): others get 403 `admin_required`.'

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { analytics } = fastify
  const security = [{ bearerAuth: [] }]
  const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef }

  // figures about users are for the admin who asked, not for caches on the way
  fastify.addHook('onSend', async (_request, reply) => {
    void reply.header('cache-control', 'no-store')
  })

  fastify.get('/analytics/summary', {
    onRequest: fastify.requireAdmin,
    schema: {
      operationId: 'getAnalyticsSummary',
      tags: ['analytics'],
      summary: 'Users, sessions, messages and delivery latency over a time range',
      description: `Default range: the 24 hours before now; at most 366 days. The active users are those of the range's last UTC day. ${RANGE_NOTE}`,
      security,
      querystring: RangeQuery,
      response: { 200: SummaryResponse, ...errors }
    }
  }, async (request) => await analytics.summary(request.query))

  fastify.get('/analytics/users/daily', {
    onRequest: fastify.requireAdmin,
    schema: {
      operationId: 'getDailyUsers',
      tags: ['analytics'],
      summary: 'Daily, weekly and monthly active users, new users and sessions, per UTC day',
      description: 'Every UTC day overlapping `[from, to)`: by default the 30 days ending today; at most 366 days. DAU: users ' +
        'with a session that day; WAU and MAU: users with a session in the 7 or 30 days ending that day. ' + RANGE_NOTE,
      security,
      querystring: DailyUsersQuery,
      response: { 200: DailyUsersResponse, ...errors }
    }
  }, async (request) => await analytics.dailyUsers(request.query))

  fastify.get('/analytics/messages/stats', {
    onRequest: fastify.requireAdmin,
    schema: {
      operationId: 'getMessageStats',
      tags: ['analytics'],
      summary: 'Messages by type, outcome and refusal code, delivery latency, and a series per minute, hour or day',
      description: 'Default range: the 24 hours before now. The longest range depends on `interval`: 2 days by minute, ' +
        `125 days by hour, 366 days by day. ${RANGE_NOTE}`,
      security,
      querystring: MessagesStatsQuery,
      response: { 200: MessagesStatsResponse, ...errors }
    }
  }, async (request) => await analytics.messageStats(request.query))

  fastify.get('/analytics/live', {
    onRequest: fastify.requireAdmin,
    schema: {
      operationId: 'getLiveFigures',
      tags: ['analytics'],
      summary: 'Open connections and online users now, and their peak per minute',
      description: 'What the dashboard polls. The series holds the most connections and online users of each minute ' +
        '(summed over server processes); minutes when no server ran are zero. Admin only.',
      security,
      querystring: LiveQuery,
      response: { 200: LiveResponse, ...errors }
    }
  }, async (request) => await analytics.live(request.query.minutes ?? 60))
}

export default routes
