import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Revoked token ids. Every check is answered from memory; the table keeps them across restarts until the
 * tokens would have expired anyway.
 */
export class Revocations {
  readonly #db: Kysely<Database>
  readonly #revoked = new Map<string, number>()

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  async load (): Promise<void> {
    const now = new Date().toISOString()
    await this.#db.deleteFrom('revoked_tokens').where('expires_at', '<=', now).execute()
    for (const row of await this.#db.selectFrom('revoked_tokens').select(['jti', 'expires_at']).execute()) {
      this.#revoked.set(row.jti, Date.parse(row.expires_at))
    }
  }

  isRevoked (jti: string): boolean {
    return this.#revoked.has(jti)
  }

  async revoke (jti: string, userId: string, expiresAtMs: number): Promise<void> {
    const expiresAt = new Date(expiresAtMs).toISOString()
    await this.#db.insertInto('revoked_tokens')
      .values({ jti, user_id: userId, expires_at: expiresAt, revoked_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('jti').doNothing()).execute()
    this.#revoked.set(jti, expiresAtMs)
  }

  /** Drops entries whose tokens have expired. */
  sweep (now = Date.now()): void {
    for (const [jti, expires] of this.#revoked) if (expires <= now) this.#revoked.delete(jti)
  }
}
