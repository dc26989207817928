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

  constructor (db: Kysely<Database>, { shared = false }: { shared?: boolean } = {}) {
    this.#db = db
    this.#shared = shared
  }

  async load (): Promise<void> {
    const now = new Date().toISOString()
    await this.#db.deleteFrom('revoked_tokens').where('expires_at', '<=', now).execute()
    for (const row of await this.#db.selectFrom('revoked_tokens').select(['jti', 'expires_at']).execute()) {
      this.#revoked.set(row.jti, Date.parse(row.expires_at))
    }
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

  /** Notes a revocation made elsewhere. */
  remember (jti: string, expiresAtMs: number): void {
    this.#revoked.set(jti, expiresAtMs)
  }

  /** Drops entries whose tokens have expired. */
  sweep (now = Date.now()): void {
    for (const [jti, expires] of this.#revoked) if (expires <= now) this.#revoked.delete(jti)
  }
}
