import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { PublicUser, RegisterBody, RotateKeyBody } from '../schemas/auth.js'
import { RESERVED_USER_IDS } from '../schemas/common.js'
import type { Database, User } from './database.js'
import type { Ed25519Verifier } from './ed25519.js'
import { fromBase64 as decodeBase64 } from './protocol/base64.js'
import { InvalidKeyError, InvalidKeySignatureError, InvalidRequestError, StaleKeyEpochError, UnknownUserError, UserExistsError } from './errors.js'
import { x25519KeyBindingSigningInput, x25519KeySigningInput } from './protocol/signing.js'

const KNOWN_CACHE = 100_000
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const PROBE_KEY = generateKeyPairSync('x25519').privateKey
/** an epoch'd key expires at most this long after it is published */
const MAX_KEY_LIFETIME_MS = 400 * 24 * 60 * 60 * 1000

/** How a key is bound to its user: epoch 0 and no expiry the v1 way, or under the epoch label. */
interface KeyBinding {
  epoch: number
  expiresAt: string | null
  /** what the signature must verify over */
  signingInput: string
}

type BindingFields = Pick<RegisterBody, 'x25519_public_key' | 'x25519_key_signature' | 'x25519_key_epoch' | 'x25519_key_expires_at'>

/** The binding a body asks for, with the checks that need no key: the fields go together, and the expiry is in bounds. */
function keyBinding (userId: string, body: BindingFields, now: number): KeyBinding {
  const { x25519_public_key: key, x25519_key_epoch: epoch, x25519_key_expires_at: expiresAt } = body
  if (epoch === undefined && expiresAt === undefined) return { epoch: 0, expiresAt: null, signingInput: x25519KeySigningInput(userId, key) }
  if (epoch === undefined || expiresAt === undefined) throw new InvalidRequestError('x25519_key_epoch and x25519_key_expires_at go together')
  if (body.x25519_key_signature === undefined) throw new InvalidRequestError('x25519_key_signature is required with x25519_key_epoch')
  const time = Date.parse(expiresAt)
  // the pattern admits 2026-13-45T99:99:99.999Z; only a time that prints back the same is a time
  if (Number.isNaN(time) || new Date(time).toISOString() !== expiresAt) throw new InvalidRequestError('x25519_key_expires_at is not a valid time')
  if (time <= now || time > now + MAX_KEY_LIFETIME_MS) {
    throw new InvalidKeyError('x25519_key_expires_at must be later than now and at most 400 days ahead')
  }
  return { epoch, expiresAt, signingInput: x25519KeyBindingSigningInput({ userId, x25519PublicKey: key, epoch, expiresAt }) }
}

/**
 * A 32-byte X25519 public key that is not of low order: OpenSSL refuses to derive the all-zero shared
 * secret such a key gives (RFC 7748 section 6.1), twenty times faster than doing the ladder in JavaScript.
 */
export function isValidX25519Key (raw: Uint8Array): boolean {
  if (raw.length !== 32) return false
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    diffieHellman({ privateKey: PROBE_KEY, publicKey })
    return true
  } catch {
    return false
  }
}

export function toPublicUser (user: User): PublicUser {
  return {
    user_id: user.user_id,
    username: user.username,
    public_key: user.public_key,
    x25519_public_key: user.x25519_public_key,
    x25519_key_signature: user.x25519_key_signature,
    x25519_key_epoch: Number(user.x25519_key_epoch),
    x25519_key_expires_at: user.x25519_key_expires_at,
    created_at: user.created_at
  }
}

export class UserStore {
  readonly #db: Kysely<Database>
  readonly #verifier: Ed25519Verifier
  readonly #known = new Set<string>()

  constructor (db: Kysely<Database>, verifier: Ed25519Verifier) {
    this.#db = db
    this.#verifier = verifier
  }

  async register (input: RegisterBody): Promise<PublicUser> {
    if (RESERVED_USER_IDS.has(input.user_id.toLowerCase())) throw new InvalidRequestError('user_id is reserved')
    const identity = decodeBase64(input.public_key, 32)
    if (identity === undefined || this.#verifier.keyObject(input.public_key) === undefined) {
      throw new InvalidKeyError('public_key is not a valid Ed25519 public key')
    }
    const encryption = decodeBase64(input.x25519_public_key, 32)
    if (encryption === undefined || !isValidX25519Key(encryption)) {
      throw new InvalidKeyError('x25519_public_key is not a valid X25519 public key')
    }
    const binding = keyBinding(input.user_id, input, Date.now())
    if (input.x25519_key_signature !== undefined && !this.#verifier.verify(input.public_key, binding.signingInput, input.x25519_key_signature)) {
      throw new InvalidKeySignatureError()
    }
    const now = new Date().toISOString()
    const user: User = {
      user_id: input.user_id,
      username: input.username,
      public_key: input.public_key,
      x25519_public_key: input.x25519_public_key,
      x25519_key_signature: input.x25519_key_signature ?? null,
      x25519_key_epoch: binding.epoch,
      x25519_key_expires_at: binding.expiresAt,
      created_at: now,
      updated_at: now
    }
    try {
      await this.#db.insertInto('users').values(user).execute()
    } catch (err) {
      if (isUniqueViolation(err)) throw new UserExistsError()
      throw err
    }
    return toPublicUser(user)
  }

  /**
   * Replaces a user's X25519 key. The binding signature is required and must verify against the stored
   * identity key, which never changes. An epoch'd key must have a greater epoch than the stored one, and once
   * a key has an epoch a key bound the v1 way is refused: clients refuse keys older than the newest they saw.
   */
  async rotateEncryptionKey (userId: string, body: RotateKeyBody): Promise<PublicUser> {
    const user = await this.get(userId)
    if (user === undefined) throw new UnknownUserError()
    const binding = keyBinding(userId, body, Date.now())
    const encryption = decodeBase64(body.x25519_public_key, 32)
    if (encryption === undefined || !isValidX25519Key(encryption)) {
      throw new InvalidKeyError('x25519_public_key is not a valid X25519 public key')
    }
    if (!this.#verifier.verify(user.public_key, binding.signingInput, body.x25519_key_signature)) {
      throw new InvalidKeySignatureError()
    }
    const set = {
      x25519_public_key: body.x25519_public_key,
      x25519_key_signature: body.x25519_key_signature,
      x25519_key_epoch: binding.epoch,
      x25519_key_expires_at: binding.expiresAt,
      updated_at: new Date().toISOString()
    }
    // the epoch is compared in the update itself, so that of two rotations at once with the same epoch one wins
    const result = await this.#db.updateTable('users').set(set).where('user_id', '=', userId)
      .where('x25519_key_epoch', binding.epoch === 0 ? '=' : '<', binding.epoch).executeTakeFirst()
    if (Number(result.numUpdatedRows) === 0) throw new StaleKeyEpochError()
    return toPublicUser({ ...user, ...set })
  }

  /** Whether a user id is registered (exact case); positive answers are cached, as users are never removed. */
  async exists (userId: string): Promise<boolean> {
    if (this.#known.has(userId)) return true
    const row = await this.#db.selectFrom('users').select('user_id').where('user_id', '=', userId).executeTakeFirst()
    if (row === undefined) return false
    if (this.#known.size >= KNOWN_CACHE) this.#known.clear()
    this.#known.add(userId)
    return true
  }

  async get (userId: string): Promise<User | undefined> {
    return await this.#db.selectFrom('users').selectAll().where('user_id', '=', userId).executeTakeFirst()
  }

  /** Taken ignores case: "Alice" and "alice" cannot both exist. */
  async isTaken (userId: string): Promise<boolean> {
    if (RESERVED_USER_IDS.has(userId.toLowerCase())) return true
    const row = await this.#db.selectFrom('users').select('user_id')
      .where(sql<string>`lower(user_id)`, '=', userId.toLowerCase()).executeTakeFirst()
    return row !== undefined
  }

  async count (): Promise<number> {
    const row = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
    return Number(row.n)
  }
}

/** SQLite and PostgreSQL both report a unique-constraint violation through a code on the error. */
export function isUniqueViolation (err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false
  const code = (err as { code: unknown }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}
