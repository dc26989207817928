import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'

export type AuditEventName =
  | 'register' | 'login' | 'login_failed' | 'logout' | 'token_refused' | 'bad_signature' | 'replay'
  | 'rate_limited' | 'origin_refused' | 'ip_blocked' | 'ip_unblocked' | 'key_rotated' | 'ws_refused'

/** One line of the audit log. Never a secret, a key, a token or message content: ids, addresses and codes only. */
export interface AuditEvent {
  event: AuditEventName
  ip?: string | null
  user_id?: string
  code?: string
  /** what the event is about: a route, a count, a reason in a few words */
  detail?: Record<string, string | number | boolean | null>
}

/**
 * JSON lines appended to SECURITY_LOG_FILE. reopen() (on SIGHUP) starts a new file at the same path, so
 * logrotate can move the old one away. Writes never block or throw into the request that caused them.
 */
export class AuditLog {
  readonly #path: string
  #stream: WriteStream
  #onError: (err: Error) => void

  constructor (path: string, onError: (err: Error) => void) {
    this.#path = path
    this.#onError = onError
    mkdirSync(dirname(path), { recursive: true })
    this.#stream = this.#open()
  }

  #open (): WriteStream {
    const stream = createWriteStream(this.#path, { flags: 'a', mode: 0o600 })
    stream.on('error', (err) => this.#onError(err))
    return stream
  }

  write (event: AuditEvent): void {
    this.#stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`)
  }

  reopen (): void {
    const old = this.#stream
    this.#stream = this.#open()
    old.end()
  }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => this.#stream.end(resolve))
  }
}
