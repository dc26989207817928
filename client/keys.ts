// The keys of other users: what the server serves, checked against what this client pinned (identity key,
// trust state and the highest X25519 key epoch seen) before anything is sealed to them.
import { fromBase64, utf8Encode } from '../services/protocol/base64.js'
import { verifyStrict } from '../services/protocol/signature.js'
import { x25519KeyBindingSigningInput, x25519KeySigningInput } from '../services/protocol/signing.js'
import type { HttpApi, PeerUser } from './api.js'
import { KeyChangedError, SealwireError } from './errors.js'
import { safetyNumber } from './safety.js'
import type { ClientStore, PeerRecord, TrustState } from './store.js'

const USER_CACHE_MS = 60_000

/** What `client.trust(peer)` answers: the pinned identity key, its trust state and the key-epoch record. */
export interface Trust {
  state: TrustState
  publicKey: string
  epoch: number
}

/**
 * Checks a served X25519 key against the peer's record (§1 of the key-epoch rules): its binding verifies with
 * the pinned identity key (the ordered label for epoch ≥ 1, the v1 label for epoch 0), its epoch is not below
 * the pinned one, a key at the pinned epoch is the key pinned there, and an epoch'd key has not expired.
 * Returns the key and the record to keep (raised when the epoch grew or the first key was seen).
 */
export function checkEncryptionKey (userId: string, user: PeerUser, record: PeerRecord, now: number): { key: Uint8Array, record: PeerRecord } {
  const epoch = user.x25519_key_epoch ?? 0
  const expiresAt = user.x25519_key_expires_at ?? null
  const identityKey = fromBase64(record.publicKey, 32)
  const key = fromBase64(user.x25519_public_key, 32)
  const binding = user.x25519_key_signature === null ? undefined : fromBase64(user.x25519_key_signature, 64)
  const unverified = (): SealwireError => new SealwireError('unverified_key', `the encryption key of ${userId} is not signed by its identity key: not encrypting to it`)
  if (identityKey === undefined || key === undefined || binding === undefined || !Number.isSafeInteger(epoch) || epoch < 0) throw unverified()
  if (epoch >= 1 && (expiresAt === null || Number.isNaN(Date.parse(expiresAt)) || new Date(expiresAt).toISOString() !== expiresAt)) throw unverified()
  const input = epoch >= 1
    ? x25519KeyBindingSigningInput({ userId, x25519PublicKey: user.x25519_public_key, epoch, expiresAt: expiresAt as string })
    : x25519KeySigningInput(userId, user.x25519_public_key)
  if (!verifyStrict(identityKey, utf8Encode(input), binding)) throw unverified()
  if (epoch < record.epoch || (epoch === record.epoch && record.encryptionKey !== undefined && record.encryptionKey !== user.x25519_public_key)) {
    throw new SealwireError('key_rollback', `the server offers ${userId}'s encryption key of epoch ${epoch}, but epoch ${record.epoch} ${epoch < record.epoch ? 'was seen before' : 'was seen with another key'}: not encrypting to it`)
  }
  if (epoch >= 1 && !(Date.parse(expiresAt as string) > now)) {
    throw new SealwireError('key_expired', `the encryption key of ${userId} expired at ${expiresAt as string}: not encrypting to it until ${userId} publishes a new one`)
  }
  const grew = epoch > record.epoch || record.encryptionKey === undefined
  return { key, record: grew ? { ...record, epoch, encryptionKey: user.x25519_public_key } : record }
}

export interface PeerKeysOptions {
  api: HttpApi
  store: ClientStore
  /** a session token, logging in when needed */
  token: () => Promise<string>
  /** this client's user id and identity key */
  me: () => { userId: string, publicKey: string }
  onKeyChanged: (err: KeyChangedError) => void
}

export class PeerKeys {
  readonly #o: PeerKeysOptions
  readonly #users = new Map<string, { user: PeerUser, fetchedAt: number }>()

  constructor (options: PeerKeysOptions) {
    this.#o = options
  }

  /** The user's record as the server serves it, checked against nothing but its user id. */
  async served (userId: string, fresh = false): Promise<PeerUser> {
    const cached = this.#users.get(userId)
    if (!fresh && cached !== undefined && Date.now() - cached.fetchedAt < USER_CACHE_MS) return cached.user
    const user = await this.#o.api.user(userId, await this.#o.token())
    if (user.user_id !== userId) throw new SealwireError('malformed', `asked for ${userId}, the server answered with ${user.user_id}`)
    this.#users.set(userId, { user, fetchedAt: Date.now() })
    return user
  }

  /** The peer's record, pinning the served identity key on first use; a different served key is refused. */
  async pinned (userId: string): Promise<{ user: PeerUser, record: PeerRecord }> {
    const user = await this.served(userId)
    let record = await this.#o.store.getPeer(userId)
    if (record === undefined) {
      record = { publicKey: user.public_key, trust: 'unverified', epoch: 0, encryptionKey: undefined }
      await this.#o.store.putPeer(userId, record)
    } else if (record.publicKey !== user.public_key) {
      this.#users.delete(userId)
      const err = new KeyChangedError(userId, record.publicKey, user.public_key)
      this.#o.onKeyChanged(err)
      throw err
    }
    return { user, record }
  }

  /** The X25519 key to seal to, only when it passes checkEncryptionKey; the raised record is stored first. */
  async encryptionKey (userId: string): Promise<Uint8Array> {
    const { user, record } = await this.pinned(userId)
    let checked: ReturnType<typeof checkEncryptionKey>
    try {
      checked = checkEncryptionKey(userId, user, record, Date.now())
    } catch (err) {
      this.#users.delete(userId)
      throw err
    }
    if (checked.record !== record) await this.#o.store.putPeer(userId, checked.record)
    return checked.key
  }

  /** The number for the identity key the server serves now; pins nothing. */
  async safetyNumber (userId: string): Promise<string> {
    const user = await this.served(userId, true)
    const me = this.#o.me()
    return safetyNumber({ userId: me.userId, publicKey: me.publicKey }, { userId, publicKey: user.public_key })
  }

  async trust (userId: string): Promise<Trust | undefined> {
    const record = await this.#o.store.getPeer(userId)
    return record === undefined ? undefined : { state: record.trust, publicKey: record.publicKey, epoch: record.epoch }
  }

  /**
   * The user compared safety numbers: the served key, which must be the pinned one (pinned now when nothing
   * was), becomes `verified`. With `shown`, the number must be the one of that key, so a key swapped since
   * the number was shown is not marked.
   */
  async markVerified (userId: string, shown?: string): Promise<Trust> {
    const user = await this.served(userId, true)
    const me = this.#o.me()
    if (shown !== undefined && shown !== safetyNumber({ userId: me.userId, publicKey: me.publicKey }, { userId, publicKey: user.public_key })) {
      throw new SealwireError('safety_number_mismatch', `the safety number shown is not the one of ${userId}'s key now: nothing marked`)
    }
    const { record } = await this.pinned(userId)
    const verified: PeerRecord = { ...record, trust: 'verified' }
    await this.#o.store.putPeer(userId, verified)
    return { state: 'verified', publicKey: verified.publicKey, epoch: verified.epoch }
  }

  /**
   * The user accepts a changed identity key: the served key is pinned as `unverified`, with a new epoch record
   * (the old one belonged to the old key). With `presented`, only that key is accepted.
   */
  async acceptKeyChange (userId: string, presented?: string): Promise<Trust> {
    const user = await this.served(userId, true)
    if (presented !== undefined && presented !== user.public_key) throw new SealwireError('key_changed', `${userId}'s key changed again: compare the new safety number first`)
    const record = await this.#o.store.getPeer(userId)
    if (record?.publicKey === user.public_key) return { state: record.trust, publicKey: record.publicKey, epoch: record.epoch }
    const next: PeerRecord = { publicKey: user.public_key, trust: 'unverified', epoch: 0, encryptionKey: undefined }
    await this.#o.store.putPeer(userId, next)
    return { state: next.trust, publicKey: next.publicKey, epoch: next.epoch }
  }
}
