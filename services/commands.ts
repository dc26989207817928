import { Compile } from 'typebox/compile'
import type { JsonValue } from '../schemas/common.js'
import { CommandRequest } from '../schemas/frames.js'

export interface CommandContext {
  /** the authenticated user who sent the signed `server` message */
  sender: string
  params: unknown
  /** aborted when the command's time is up or the server shuts down */
  signal: AbortSignal
}

export interface CommandDefinition {
  description: string
  handler: (context: CommandContext) => JsonValue | Promise<JsonValue>
  /** overrides COMMAND_TIMEOUT_MS for this command */
  timeoutMs?: number
}

/** Thrown by a handler to tell the client why it failed; any other error is reported as "command failed". */
export class CommandError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CommandError'
  }
}

export type CommandOutcome =
  | { ok: true, command: string, result: JsonValue }
  | { ok: false, command: string, code: 'unknown_command' | 'command_failed' | 'invalid_frame', message: string, cause?: unknown }

const requestValidator = Compile(CommandRequest)

export class CommandRegistry {
  readonly #commands = new Map<string, CommandDefinition>()
  readonly #timeoutMs: number
  readonly #shutdown = new AbortController()

  constructor (timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  register (name: string, definition: CommandDefinition): void {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) throw new Error(`command name ${JSON.stringify(name)} must match ^[a-z][a-z0-9_]{0,63}$`)
    if (this.#commands.has(name)) throw new Error(`command ${name} is already registered`)
    this.#commands.set(name, definition)
  }

  list (): Array<{ name: string, description: string }> {
    return [...this.#commands].map(([name, d]) => ({ name, description: d.description })).sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Parses the JSON content of a `server` message and runs the command within its time limit. */
  async run (sender: string, content: string): Promise<CommandOutcome> {
    let request: unknown
    try {
      request = JSON.parse(content)
    } catch {
      return { ok: false, command: '', code: 'invalid_frame', message: 'body.content must be JSON text {"command", "params"}' }
    }
    if (!requestValidator.Check(request)) {
      return { ok: false, command: '', code: 'invalid_frame', message: 'body.content must be {"command": name, "params": value}' }
    }
    const { command } = request
    const definition = this.#commands.get(command)
    if (definition === undefined) return { ok: false, command, code: 'unknown_command', message: `no command ${command}` }

    const timeoutMs = definition.timeoutMs ?? this.#timeoutMs
    const controller = new AbortController()
    const onShutdown = (): void => controller.abort()
    this.#shutdown.signal.addEventListener('abort', onShutdown)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        // settle the race first, so a handler that rejects on abort does not hide the timeout
        reject(new CommandError(`timed out after ${timeoutMs} ms`))
        controller.abort()
      }, timeoutMs)
    })
    try {
      const result = await Promise.race([Promise.resolve().then(() => definition.handler({ sender, params: request.params, signal: controller.signal })), timedOut])
      // a result must survive the trip through JSON
      return { ok: true, command, result: JSON.parse(JSON.stringify(result ?? null)) as JsonValue }
    } catch (err) {
      const message = err instanceof CommandError ? err.message : 'command failed'
      return { ok: false, command, code: 'command_failed', message, cause: err }
    } finally {
      clearTimeout(timer)
      this.#shutdown.signal.removeEventListener('abort', onShutdown)
    }
  }

  /** Aborts every running command (at shutdown). */
  abortAll (): void {
    this.#shutdown.abort()
  }
}
