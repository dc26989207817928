import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Revoked token ids. The table keeps them across restarts until the tokens would have expired anyway. Alone,
 * this process writes every revocation, so memory answers every check. Sharing the database with other
 * nodes, a token this node has not heard of is looked up in the table: a revocation made on another node
 * holds at once, even while the nodes cannot reach each other.
 */
export class Revocations {
  readonly #db: Kysely<Database>
  readonly #shared: boolean
  readonly #revoked = new Map<string, number>()
  readonly #listeners: Array<(jti: string) => void> = []

  constructor (db: Kysely<Database>, { shared = false }: { shared?: boolean } = {}) {
    this.#db = db
    this.#shared = shared
  }

  /** Called once for each token id newly known to be revoked, however this process learnt it. */
  onRevoked (listener: (jti: string) => void): void {
    this.#listeners.push(listener)
  }

  /** Forgets the expired ones, in the table too, and learns the others. */
  async load (): Promise<void> {
    await this.#db.deleteFrom('revoked_tokens').where('expires_at', '<=', new Date().toISOString()).execute()
    await this.refresh()
  }

  /** Learns every revocation in the table: after a time this node may have missed some made elsewhere. */
  async refresh (): Promise<void> {
    const rows = await this.#db.selectFrom('revoked_tokens').select(['jti', 'expires_at'])
      .where('expires_at', '>', new Date().toISOString()).execute()
    for (const row of rows) this.remember(row.jti, Date.parse(row.expires_at))
  }

  /** What this process knows, without asking the database. */
  isKnown (jti: string): boolean {
    return this.#revoked.has(jti)
  }

  async isRevoked (jti: string): Promise<boolean> {
    if (this.#revoked.has(jti)) return true
    if (!this.#shared) return false
    const row = await this.#db.selectFrom('revoked_tokens').select('expires_at').where('jti', '=', jti).executeTakeFirst()
    if (row === undefined) return false
    this.remember(jti, Date.parse(row.expires_at))
    return true
  }

  async revoke (jti: string, userId: string, expiresAtMs: number): Promise<void> {
    const expiresAt = new Date(expiresAtMs).toISOString()
    await this.#db.insertInto('revoked_tokens')
      .values({ jti, user_id: userId, expires_at: expiresAt, revoked_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('jti').doNothing()).execute()
    this.remember(jti, expiresAtMs)
  }

  /** Notes a revocation, made here or elsewhere. */
  remember (jti: string, expiresAtMs: number): void {
    if (this.#revoked.has(jti) || expiresAtMs <= Date.now()) return
    this.#revoked.set(jti, expiresAtMs)
    for (const listener of this.#listeners) listener(jti)
  }

  /** Drops entries whose tokens have expired. */
  sweep (now = Date.now()): void {
    for (const [jti, expires] of this.#revoked) if (expires <= now) this.#revoked.delete(jti)
  }
}
