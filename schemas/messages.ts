import { Type, type Static } from 'typebox'
import { UserId, withExamples } from './common.js'
import { DIRECT_EXAMPLE } from './examples.js'
import { MessageId, ReceiptStatus } from './frames.js'

export const SubmitResponse = withExamples(Type.Object({
  id: MessageId,
  status: ReceiptStatus
}, { description: 'accepted: stored durably; duplicate: this id from this sender was stored before' }), [{ id: DIRECT_EXAMPLE.header.id, status: 'accepted' }])

export const ActiveUsersResponse = withExamples(Type.Object({
  users: Type.Array(UserId, { description: 'users with at least one open connection' }),
  count: Type.Integer()
}), [{ users: ['alice', 'bob'], count: 2 }])

export const HistoryQuery = Type.Object({
  peer: UserId,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'the `next_before` of the previous page' }))
})
export type HistoryQuery = Static<typeof HistoryQuery>

export const HistoryMessage = Type.Object({
  seq: Type.Integer({ description: 'the server\'s order of arrival' }),
  header: Type.Object({}, { additionalProperties: true }),
  body: Type.Object({}, { additionalProperties: true }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('rejected')]),
  received_at: Type.String(),
  delivered_at: Type.Union([Type.String(), Type.Null()])
})

export const HistoryResponse = withExamples(Type.Object({
  messages: Type.Array(HistoryMessage, { description: 'newest first, exactly as signed by their senders' }),
  next_before: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as `before` for older messages; null at the end' })
}), [{
  messages: [{ seq: 42, ...DIRECT_EXAMPLE, status: 'delivered', received_at: '2026-11-25T10:30:00.042Z', delivered_at: '2026-11-25T10:30:00.180Z' }],
  next_before: null
}])
export type HistoryResponse = Static<typeof HistoryResponse>

export const QueueResponse = withExamples(Type.Object({
  pending: Type.Integer({ description: 'direct messages to you, stored and not yet acknowledged' })
}), [{ pending: 0 }])
