import type { Static, TSchema } from 'typebox'
import { BROADCAST_EXAMPLE, DIRECT_EXAMPLE, REJECT_EXAMPLE, SERVER_COMMAND_EXAMPLE } from '../schemas/examples.js'
import { CLIENT_FRAMES, FRAME_ERROR_CODES, SERVER_FRAMES } from '../schemas/frames.js'
import { CLOSE } from './hub/connection.js'

// The AsyncAPI 3.0 document of the WebSocket, made from the frame schemas that the server and the client validate
// with: `npm run build` writes it to dist/public/asyncapi.json and the docs plugin serves it at /docs/asyncapi.json.
// It describes the server: it receives the frames a client sends and sends the frames a client receives.

export type ClientFrameType = keyof typeof CLIENT_FRAMES
export type ServerFrameType = keyof typeof SERVER_FRAMES
type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type AsyncApiDocument = { asyncapi: string } & { [key: string]: Json }

interface FrameText<Example> {
  /** the message's key in the channel and in components.messages */
  key: string
  title: string
  summary: string
  example: Example
}
type Texts<Frames extends Record<string, TSchema>> = { [Type in keyof Frames]: FrameText<Static<Frames[Type]>> }

// The examples are real: the envelopes are alice's, signed with her key (schemas/examples.ts); the server's answers name them.
const ID = DIRECT_EXAMPLE.header.id
const REPLY_ID = '7a9d1c3b-2e4f-4a6b-8c0d-1e2f3a4b5c6d'
const STORED_AT = '2026-11-25T10:30:00.042Z'
const delivered = <T extends object> (envelope: T) => ({ ...envelope, meta: { received_at: STORED_AT } })
const made = <To extends string, Type extends string> (to: To, messageType: Type) =>
  ({ id: REPLY_ID, from: 'server' as const, to, timestamp: STORED_AT, message_type: messageType })

const CLIENT_TEXT: Texts<typeof CLIENT_FRAMES> = {
  direct: {
    key: 'direct',
    title: 'Direct message (sent)',
    summary: 'A signed, end-to-end encrypted message to one user. Answered by a receipt (accepted or duplicate) or an error.',
    example: DIRECT_EXAMPLE
  },
  broadcast: {
    key: 'broadcast',
    title: 'Broadcast (sent)',
    summary: 'A signed plain-text message to every connected user, public by design. Answered by an error only when refused.',
    example: BROADCAST_EXAMPLE
  },
  server: {
    key: 'server',
    title: 'Server command',
    summary: 'A signed command for the server, its content the JSON text {"command", "params"}. Answered by a server_response.',
    example: SERVER_COMMAND_EXAMPLE
  },
  ack: {
    key: 'ack',
    title: 'Acknowledgement',
    summary: 'The recipient has a direct message: the server marks it delivered, stops resending it and tells the sender.',
    example: { header: { message_type: 'ack', in_reply_to: ID }, body: { from: 'alice' } }
  },
  reject: {
    key: 'reject',
    title: 'Rejection',
    summary: 'Sent by a recipient instead of an ack for a direct message that fails a check, signed: the message is marked ' +
      'rejected and its sender gets a rejected receipt carrying this frame. Answered by an error only when refused.',
    example: REJECT_EXAMPLE
  }
}

const SERVER_TEXT: Texts<typeof SERVER_FRAMES> = {
  direct: {
    key: 'direct_delivered',
    title: 'Direct message (received)',
    summary: 'A direct message as signed by its sender, with the server\'s meta. Acknowledge it with an ack; until then it is resent on each connection.',
    example: delivered(DIRECT_EXAMPLE)
  },
  broadcast: {
    key: 'broadcast_delivered',
    title: 'Broadcast (received)',
    summary: 'A broadcast as signed by its sender, with the server\'s meta.',
    example: delivered(BROADCAST_EXAMPLE)
  },
  receipt: {
    key: 'receipt',
    title: 'Receipt',
    summary: 'What became of a message the user sent: accepted (stored durably), delivered (acknowledged by its recipient), ' +
      'duplicate, or rejected (refused by its recipient, with the reason and the recipient\'s signed reject).',
    example: { header: { ...made('alice', 'receipt'), in_reply_to: ID }, body: { status: 'accepted' } }
  },
  error: {
    key: 'error',
    title: 'Error',
    summary: `A refused frame. Codes: ${FRAME_ERROR_CODES.join(', ')}.`,
    example: {
      header: { ...made('alice', 'error'), in_reply_to: ID },
      body: { code: 'rate_limited', message: 'message rate limit reached', retry_after_ms: 250 }
    }
  },
  server_response: {
    key: 'server_response',
    title: 'Server response',
    summary: 'The answer to a server command, its content the JSON text {"command", "ok", "result" | "error"}.',
    example: {
      header: { ...made('alice', 'server_response'), in_reply_to: ID },
      body: { content: '{"command":"echo","ok":true,"result":{"hello":"world"}}' }
    }
  },
  presence: {
    key: 'presence',
    title: 'Presence',
    summary: 'A user\'s first connection opened (online) or last one closed (offline), on any node of the cluster.',
    example: { header: made('*', 'presence'), body: { user_id: 'bob', status: 'online' } }
  }
}

/** What a client frame of each type is answered with, by the message keys of the channel. */
const REPLIES: Record<ClientFrameType, string[]> = {
  direct: ['receipt', 'error'],
  broadcast: ['error'],
  server: ['server_response', 'error'],
  ack: ['error'],
  reject: ['error']
}

/** Messages that answer a frame, and so carry its id in header.in_reply_to. */
const REPLY_KEYS: ReadonlySet<string> = new Set(['receipt', 'error', 'server_response'])

const DESCRIPTION = `Sealwire's real-time protocol, version 1: one JSON object in each WebSocket text frame, in both directions. \
docs/protocol.md is the human-readable companion of this document: how envelopes are signed (Ed25519 over \
"sealwire/v1/message:" + JCS of the envelope) and encrypted (HPKE and AES-256-GCM), and how delivery is acknowledged.

This document describes the server: it **receives** what a client sends and **sends** what a client receives. \
The payload schemas are the ones the server and the client SDK validate frames with.

Every refused frame is answered by an \`error\` frame whose \`code\` is one of: ${FRAME_ERROR_CODES.map((c) => `\`${c}\``).join(', ')}.

The server closes a connection with ${CLOSE.goingAway} when it shuts down, ${CLOSE.unsupported} for a binary frame, \
1009 for a frame over MAX_MESSAGE_BYTES, ${CLOSE.policy} when its token is revoked or after too many refused frames, \
and ${CLOSE.tryAgainLater} when the client reads too slowly or its stored messages cannot be sent now (reconnect later).`

/** A schema or an example as plain JSON: TypeBox's own keys are symbols and do not survive. */
const plain = (value: unknown): Json => JSON.parse(JSON.stringify(value)) as Json

const capitalised = (key: string): string => key.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')
const channelMessage = (key: string): Json => ({ $ref: `#/channels/ws/messages/${key}` })

/** The AsyncAPI document of the WebSocket protocol, from SERVER_FRAMES and CLIENT_FRAMES. */
export function asyncApiDocument (): AsyncApiDocument {
  const frames = [
    ...Object.entries(CLIENT_FRAMES).map(([type, schema]) => ({ type, schema, text: CLIENT_TEXT[type as ClientFrameType], from: 'client' })),
    ...Object.entries(SERVER_FRAMES).map(([type, schema]) => ({ type, schema, text: SERVER_TEXT[type as ServerFrameType], from: 'server' }))
  ]
  const schemas: Record<string, Json> = {}
  const messages: Record<string, Json> = {}
  const channelMessages: Record<string, Json> = {}
  const operations: Record<string, Json> = {}
  for (const { type, schema, text, from } of frames) {
    const schemaName = `${capitalised(text.key)}Frame`
    schemas[schemaName] = plain(schema)
    messages[text.key] = {
      name: type,
      title: text.title,
      summary: text.summary,
      contentType: 'application/json',
      ...(REPLY_KEYS.has(text.key) ? { correlationId: { $ref: '#/components/correlationIds/inReplyTo' } } : {}),
      payload: { $ref: `#/components/schemas/${schemaName}` },
      examples: [{ name: text.key, payload: plain(text.example) }]
    }
    channelMessages[text.key] = { $ref: `#/components/messages/${text.key}` }
    const fromClient = from === 'client'
    operations[`${fromClient ? 'receive' : 'send'}${capitalised(text.key)}`] = {
      action: fromClient ? 'receive' : 'send',
      channel: { $ref: '#/channels/ws' },
      title: fromClient ? `A client sends: ${text.title}` : `The server sends: ${text.title}`,
      summary: text.summary,
      messages: [channelMessage(text.key)],
      ...(fromClient ? { reply: { channel: { $ref: '#/channels/ws' }, messages: REPLIES[type as ClientFrameType].map(channelMessage) } } : {})
    }
  }

  return {
    asyncapi: '3.0.0',
    id: 'urn:sealwire:protocol:v1',
    info: {
      title: 'Sealwire WebSocket protocol',
      version: '1',
      description: DESCRIPTION,
      license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      tags: [{ name: 'realtime', description: 'the WebSocket' }]
    },
    defaultContentType: 'application/json',
    servers: {
      sealwire: {
        host: '{host}',
        protocol: 'wss',
        title: 'Your Sealwire server',
        description: 'The server you run; `ws` rather than `wss` when it runs without TLS. Embedded under a prefix, the ' +
          'path of the WebSocket is the prefix followed by /ws.',
        variables: { host: { default: 'localhost:3000', description: 'host and port of the server' } },
        security: [{ $ref: '#/components/securitySchemes/queryToken' }, { $ref: '#/components/securitySchemes/bearerToken' }]
      }
    },
    channels: {
      ws: {
        address: '/ws',
        title: 'The real-time connection',
        summary: 'One connection per client session, opened with a session token from POST /auth/login?verify=true.',
        description: 'The token is checked before the upgrade: a missing, invalid or expired token is refused with 401, an ' +
          'Origin outside ALLOWED_ORIGINS with 403, and a user over MAX_CONNECTIONS_PER_USER with 429 (too_many_connections). ' +
          'On connection, the server sends the direct messages still waiting for an ack, in order.',
        servers: [{ $ref: '#/servers/sealwire' }],
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token: { type: 'string', maxLength: 4096, description: 'the session token (or send Authorization: Bearer)' } }
            },
            bindingVersion: '0.1.0'
          }
        }
      }
    },
    operations,
    components: {
      schemas,
      messages,
      correlationIds: {
        inReplyTo: { description: 'the id of the frame this one answers', location: '$message.payload#/header/in_reply_to' }
      },
      securitySchemes: {
        queryToken: { type: 'httpApiKey', name: 'token', in: 'query', description: 'the session token (a JWT) in ?token=' },
        bearerToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'the session token in Authorization: Bearer' }
      }
    }
  }
}
