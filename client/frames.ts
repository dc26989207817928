import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { CommandResponse, SERVER_FRAMES, type ServerFrame } from '../schemas/frames.js'

interface Checker<T> {
  Check: (value: unknown) => value is T
}

// Node compiles the schemas into code. A page under a strict Content-Security-Policy (no eval, Trusted Types),
// such as Sealwire's own web client, must not even try: it checks the same schemas as data.
const canCompile = typeof process !== 'undefined' && typeof process.versions?.node === 'string'

function checker<T extends TSchema> (schema: T): Checker<Static<T>> {
  return canCompile ? Compile(schema) as Checker<Static<T>> : { Check: (value: unknown): value is Static<T> => Value.Check(schema, value) }
}

const serverFrames = Object.fromEntries(Object.entries(SERVER_FRAMES).map(([type, schema]) => [type, checker(schema)])) as
  { [K in keyof typeof SERVER_FRAMES]: Checker<Static<typeof SERVER_FRAMES[K]>> }
const commandResponse = checker(CommandResponse)

/** A frame that failed its schema says what it claimed to be, and its id when it had one. */
export type FrameParse = { ok: true, frame: ServerFrame } | { ok: false, type: string | undefined, id?: string }

/** A frame from the server, checked against the schema of its `message_type`. */
export function parseServerFrame (text: string): FrameParse {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, type: undefined }
  }
  const header = (value as { header?: { message_type?: unknown, id?: unknown } } | null)?.header
  const type = header?.message_type
  if (typeof type !== 'string' || !Object.hasOwn(serverFrames, type)) return { ok: false, type: undefined }
  if (serverFrames[type as keyof typeof serverFrames].Check(value)) return { ok: true, frame: value as ServerFrame }
  return typeof header?.id === 'string' ? { ok: false, type, id: header.id } : { ok: false, type }
}

/** The content of a server_response, or undefined when it is not a CommandResponse. */
export function parseCommandResponse (content: string): CommandResponse | undefined {
  try {
    const value: unknown = JSON.parse(content)
    return commandResponse.Check(value) ? value : undefined
  } catch {
    return undefined
  }
}
