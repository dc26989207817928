/** Every failure the SDK reports: a stable `code` (the server's, or one of the SDK's own) and a message. */
export class SealwireError extends Error {
  readonly code: string
  readonly status: number | undefined
  readonly retryAfterMs: number | undefined

  constructor (code: string, message: string, options: { status?: number, retryAfterMs?: number, cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'SealwireError'
    this.code = code
    this.status = options.status
    this.retryAfterMs = options.retryAfterMs
  }
}

/** A peer's identity key differs from the one pinned for it: possibly an attack; never ignored. */
export class KeyChangedError extends SealwireError {
  readonly userId: string
  readonly pinnedKey: string
  readonly presentedKey: string

  constructor (userId: string, pinnedKey: string, presentedKey: string) {
    super('key_changed', `the identity key of ${userId} changed: compare safety numbers before trusting the new key`)
    this.name = 'KeyChangedError'
    this.userId = userId
    this.pinnedKey = pinnedKey
    this.presentedKey = presentedKey
  }
}

/** The recipient refused a message it got (its signed `reject` came back in a receipt): it was not delivered. */
export class RejectedError extends SealwireError {
  readonly messageId: string
  readonly recipient: string
  readonly reason: string

  constructor (messageId: string, recipient: string, reason: string) {
    super('rejected', `${recipient} refused message ${messageId} (${reason}): refetch keys and send it again under a new id`)
    this.name = 'RejectedError'
    this.messageId = messageId
    this.recipient = recipient
    this.reason = reason
  }
}
