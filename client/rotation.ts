// This client's own X25519 keys: their epochs and expiry, rotation that cannot strand a key, and the erasure
// of retired keys on the client's schedule.
import { x25519 } from '@noble/curves/ed25519.js'
import type { HttpApi, KeyFields } from './api.js'
import { SealwireError } from './errors.js'
import { keyBinding, publicKeys, type Identity, type PendingKey } from './identity.js'

export const DEFAULT_ROTATION_MS = 7 * 86_400_000
export const DEFAULT_RETENTION_MS = 30 * 86_400_000
const MAX_LIFETIME_MS = 399 * 86_400_000

export interface RotationOptions {
  identity: Identity
  api: HttpApi
  token: () => Promise<string>
  /** how often to replace the key; 0: never (the key is then registered the v1 way, without expiry) */
  rotationMs: number
  /** how long a retired secret key is kept for messages still sealed to it */
  retentionMs: number
  /** saves the identity durably; resolves once it is saved */
  save: () => Promise<void>
  /** whether anything saves the identity (without, a rotated key would be lost with the process) */
  canSave: () => boolean
}

const iso = (ms: number): string => new Date(ms).toISOString()

export class KeyRotation {
  readonly #o: RotationOptions
  #running: Promise<void> | undefined

  constructor (options: RotationOptions) {
    this.#o = options
  }

  /** a key lives two rotation intervals, so one missed rotation does not make it expire (servers take at most 400 days) */
  get lifetimeMs (): number {
    return Math.min(2 * (this.#o.rotationMs > 0 ? this.#o.rotationMs : DEFAULT_ROTATION_MS), MAX_LIFETIME_MS)
  }

  /**
   * The key fields for registration: the current key bound at its epoch (at least 1) with a fresh expiry, or the
   * v1 way (no epoch, no expiry) when this client cannot rotate (rotation off, or nothing saves the identity):
   * an expiring key that is never replaced would make the user unreachable. `commit` stores the epoch in the
   * identity once the server took it.
   */
  registration (): { fields: KeyFields, commit: () => Promise<void> } {
    const identity = this.#o.identity
    if (this.#o.rotationMs === 0 || !this.#o.canSave()) return { fields: { ...publicKeys({ ...identity, encryptionKeyEpoch: 0 }) }, commit: async () => {} }
    const epoch = Math.max(1, identity.encryptionKeyEpoch ?? 0)
    const expiresAt = iso(Date.now() + this.lifetimeMs)
    return {
      fields: keyBinding(identity, identity.encryptionSecretKey, epoch, expiresAt),
      commit: async () => {
        identity.encryptionKeyEpoch = epoch
        identity.encryptionKeyExpiresAt = expiresAt
        await this.#o.save()
      }
    }
  }

  /** Whether the maintenance round should rotate now: the key is due, or a key waits to be published. */
  due (now = Date.now()): boolean {
    const identity = this.#o.identity
    if (!this.#o.canSave()) return false
    if (identity.pendingEncryptionKey !== undefined) return true
    return this.#o.rotationMs > 0 && now - Date.parse(identity.encryptionKeyCreatedAt ?? '') >= this.#o.rotationMs
  }

  /**
   * Publishes a new X25519 key. The new secret key is saved (the save awaited) before the key is published;
   * when publishing fails it stays pending and the next try publishes that same key. Then the old key is
   * retired (kept for messages sealed to it) and the identity saved again.
   */
  async rotate (): Promise<void> {
    // one at a time: the maintenance round and the application may ask together
    this.#running ??= this.#rotate().finally(() => { this.#running = undefined })
    await this.#running
  }

  async #rotate (): Promise<void> {
    const o = this.#o
    const identity = o.identity
    if (!o.canSave()) throw new SealwireError('identity_not_saved', 'a new key would be lost with this process: listen to `identity-changed` and save the identity')
    const now = Date.now()
    let pending = identity.pendingEncryptionKey
    if (pending === undefined) {
      pending = { secretKey: x25519.utils.randomSecretKey(), epoch: (identity.encryptionKeyEpoch ?? 0) + 1, expiresAt: iso(now + this.lifetimeMs) }
      identity.pendingEncryptionKey = pending
    } else if (Date.parse(pending.expiresAt) - now < this.lifetimeMs / 2) {
      pending.expiresAt = iso(now + this.lifetimeMs)
    }
    // a crash before this resolves publishes nothing; a crash after it leaves the key saved and pending
    await o.save()
    const fields = keyBinding(identity, pending.secretKey, pending.epoch, pending.expiresAt)
    try {
      await o.api.rotateKey(await o.token(), fields)
    } catch (err) {
      if (!(err instanceof SealwireError && err.code === 'stale_key_epoch')) throw err
      // published before, its answer lost? Or another copy of this identity published a later epoch
      const served = await o.api.user(identity.userId, await o.token())
      if (served.x25519_public_key !== fields.x25519_public_key) {
        pending.epoch = Math.max(pending.epoch, (served.x25519_key_epoch ?? 0) + 1)
        await o.save()
        throw err
      }
    }
    this.#published(pending, now)
    await o.save()
  }

  #published (pending: PendingKey, now: number): void {
    const identity = this.#o.identity
    identity.retiredEncryptionKeys = [...identity.retiredEncryptionKeys ?? [], { secretKey: identity.encryptionSecretKey, retiredAt: iso(now) }]
    identity.encryptionSecretKey = pending.secretKey
    identity.encryptionKeyEpoch = pending.epoch
    identity.encryptionKeyExpiresAt = pending.expiresAt
    identity.encryptionKeyCreatedAt = iso(now)
    delete identity.pendingEncryptionKey
  }

  /**
   * Erases retired keys retired longer than the retention time (the longest a queued message may wait),
   * whatever the server says about its queue. Returns how many were erased; saves the identity when any were.
   */
  async eraseRetired (now = Date.now()): Promise<number> {
    const identity = this.#o.identity
    const retired = identity.retiredEncryptionKeys ?? []
    const cutoff = now - this.#o.retentionMs
    const erased = retired.filter((k) => Date.parse(k.retiredAt) <= cutoff)
    if (erased.length === 0) return 0
    // overwrite what JavaScript lets us overwrite; the rest is up to the garbage collector
    for (const k of erased) k.secretKey.fill(0)
    identity.retiredEncryptionKeys = retired.filter((k) => Date.parse(k.retiredAt) > cutoff)
    await this.#o.save()
    return erased.length
  }

  /** Secret keys to open a message with: the current one, a pending one (its answer may have been lost), the retired ones. */
  secretKeys (): Uint8Array[] {
    const identity = this.#o.identity
    return [
      identity.encryptionSecretKey,
      ...(identity.pendingEncryptionKey === undefined ? [] : [identity.pendingEncryptionKey.secretKey]),
      ...(identity.retiredEncryptionKeys ?? []).map((k) => k.secretKey).reverse()
    ]
  }
}
