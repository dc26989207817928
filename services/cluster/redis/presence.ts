import type { ChainableCommander, Result } from 'ioredis'
import type { PresenceStatus } from '../../../schemas/frames.js'
import type { Presence } from '../cluster.js'
import { Listeners } from '../listeners.js'
import { chunks, type RedisLink } from './link.js'

// Keys, all under the prefix:
//   nodes                 SET of node ids that registered
//   node:<id>             "1" while the node lives (renewed every TTL / 3, expires after TTL)
//   node:<id>:users       SET of users connected to that node
// The scripts read other nodes' keys by name, so this needs a standalone Redis, not Redis Cluster.

const NODE_KEY = "local function node(n) return ARGV[1] .. 'node:' .. n end\n"

/** KEYS nodes, own users; ARGV prefix, own id, user. Adds the user here; 1 when no other live node has it. */
const JOIN = `${NODE_KEY}
redis.call('SADD', KEYS[2], ARGV[3])
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n ~= ARGV[2] and redis.call('EXISTS', node(n)) == 1 and redis.call('SISMEMBER', node(n) .. ':users', ARGV[3]) == 1 then return 0 end
end
return 1`

/** The same, removing the user: 1 when no other live node has it either. */
const LEAVE = JOIN.replace("'SADD'", "'SREM'")

/** KEYS nodes; ARGV prefix. The users of every live node. */
const ONLINE = `${NODE_KEY}
local sets = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', node(n)) == 1 then table.insert(sets, node(n) .. ':users') end
end
if #sets == 0 then return {} end
return redis.call('SUNION', unpack(sets))`

/**
 * KEYS nodes, own alive key, own users; ARGV prefix, own id, TTL, users TTL. Renews this node, then claims
 * every node whose alive key has expired: it is removed, and its users that no live node has are returned.
 * Returns {1 if this node's key was still there, dead id, {users}, dead id, {users}, ...}; the script runs
 * alone, so each dead node is claimed by one node only.
 */
const HEARTBEAT = `${NODE_KEY}
local existed = redis.call('EXISTS', KEYS[2])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
local live, dead = {}, {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', node(n)) == 1 then table.insert(live, n) else table.insert(dead, n) end
end
local out = {existed}
for _, n in ipairs(dead) do
  redis.call('SREM', KEYS[1], n)
  local gone = {}
  for _, u in ipairs(redis.call('SMEMBERS', node(n) .. ':users')) do
    local elsewhere = false
    for _, m in ipairs(live) do
      if redis.call('SISMEMBER', node(m) .. ':users', u) == 1 then elsewhere = true break end
    end
    if not elsewhere then table.insert(gone, u) end
  end
  redis.call('DEL', node(n) .. ':users')
  table.insert(out, n)
  table.insert(out, gone)
end
return out`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sealwireJoin: (nodes: string, users: string, prefix: string, nodeId: string, userId: string) => Result<number, Context>
    sealwireLeave: (nodes: string, users: string, prefix: string, nodeId: string, userId: string) => Result<number, Context>
    sealwireOnline: (nodes: string, prefix: string) => Result<string[], Context>
    sealwireHeartbeat: (nodes: string, alive: string, users: string, prefix: string, nodeId: string, ttlMs: number, usersTtlMs: number) => Result<Array<number | string | string[]>, Context>
  }
}

/** What a heartbeat found: whether this node's entry was still there, and the dead nodes it claimed. */
export interface Heartbeat {
  existed: boolean
  /** each dead node, with its users that no live node has */
  claimed: Array<{ node: string, gone: string[] }>
}

/**
 * Who is online across nodes: each node keeps the set of its users in Redis and renews its own entry; a node
 * that stops renewing is taken for dead, and the first live node to notice announces its users offline.
 */
export class RedisPresence implements Presence {
  readonly #link: RedisLink
  readonly #ttlMs: number
  readonly #listeners: Listeners<[string[], PresenceStatus]>
  readonly #keys: { nodes: string, alive: string, users: string }
  /** users with connections here */
  readonly #local = new Set<string>()
  /** users this node has listed in Redis */
  #registered = new Set<string>()

  constructor (link: RedisLink, nodeTtlMs: number) {
    this.#link = link
    this.#ttlMs = nodeTtlMs
    this.#listeners = new Listeners((err) => link.log.error({ err }, 'a presence listener failed'))
    const p = link.prefix
    this.#keys = { nodes: `${p}nodes`, alive: `${p}node:${link.nodeId}`, users: `${p}node:${link.nodeId}:users` }
    const { command } = link
    command.defineCommand('sealwireJoin', { numberOfKeys: 2, lua: JOIN })
    command.defineCommand('sealwireLeave', { numberOfKeys: 2, lua: LEAVE })
    command.defineCommand('sealwireOnline', { numberOfKeys: 1, lua: ONLINE })
    command.defineCommand('sealwireHeartbeat', { numberOfKeys: 3, lua: HEARTBEAT })
    link.handle(['presence'], ({ users, status }) => this.#listeners.emit(users, status))
  }

  join (userId: string): void {
    this.#local.add(userId)
    void this.#after(() => {
      if (!this.#local.has(userId)) return
      if (!this.#link.healthy) {
        this.#listeners.emit([userId], 'online')
      } else if (!this.#registered.has(userId)) {
        this.#registered.add(userId)
        this.#announce(userId, 'online')
      }
    })
  }

  leave (userId: string): void {
    if (!this.#local.delete(userId)) return
    if (!this.#link.healthy) {
      this.#listeners.emit([userId], 'offline')
      return
    }
    if (this.#registered.delete(userId)) this.#announce(userId, 'offline')
  }

  async online (): Promise<string[]> {
    if (this.#link.healthy) {
      try {
        return await this.#link.command.sealwireOnline(this.#keys.nodes, this.#link.prefix)
      } catch (err) {
        // a slow answer is not a lost Redis: this node's own users stand in for once
        this.#link.log.warn({ err }, 'who is online: Redis did not answer; this node\'s users only')
      }
    }
    return [...this.#local]
  }

  onChange (listener: (users: string[], status: PresenceStatus) => void): void {
    this.#listeners.add(listener)
  }

  /** Tells every node, this one included, that users came or went. */
  announce (users: string[], status: PresenceStatus): void {
    this.#listeners.emit(users, status)
    this.#link.publish(this.#link.allChannel, { kind: 'presence', users, status })
  }

  // ---- for the cluster -----------------------------------------------------------------------------

  /** Adds this node and its users to a registration transaction; returns the users listed. */
  register (multi: ChainableCommander): string[] {
    const users = [...this.#local]
    multi.set(this.#keys.alive, '1', 'PX', this.#ttlMs).sadd(this.#keys.nodes, this.#link.nodeId).del(this.#keys.users)
    for (const members of chunks(users)) multi.sadd(this.#keys.users, ...members)
    multi.pexpire(this.#keys.users, this.#ttlMs * 4)
    return users
  }

  registered (users: string[]): void {
    this.#registered = new Set(users)
  }

  /** Announces the users who came or went while the registration ran. */
  reconcile (): void {
    for (const userId of this.#registered) {
      if (this.#local.has(userId)) continue
      this.#registered.delete(userId)
      this.#announce(userId, 'offline')
    }
    for (const userId of this.#local) {
      if (this.#registered.has(userId)) continue
      this.#registered.add(userId)
      this.#announce(userId, 'online')
    }
  }

  /** Renews this node's entry and claims the nodes that stopped renewing theirs. */
  async heartbeat (): Promise<Heartbeat> {
    const reply = await this.#link.command.sealwireHeartbeat(this.#keys.nodes, this.#keys.alive, this.#keys.users,
      this.#link.prefix, this.#link.nodeId, this.#ttlMs, this.#ttlMs * 4)
    const claimed: Heartbeat['claimed'] = []
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const gone = reply[i + 1]
      claimed.push({ node: String(reply[i]), gone: Array.isArray(gone) ? gone : [] })
    }
    return { existed: reply[0] === 1, claimed }
  }

  /** Removes this node from Redis, so that the others see its users go now rather than after the TTL. */
  async deregister (): Promise<void> {
    await this.#link.command.multi().srem(this.#keys.nodes, this.#link.nodeId).del(this.#keys.alive, this.#keys.users).exec()
  }

  async #after (action: () => void): Promise<void> {
    if (this.#link.recovering !== undefined) await this.#link.recovering
    action()
  }

  #announce (userId: string, status: PresenceStatus): void {
    const { command } = this.#link
    const script = status === 'online' ? command.sealwireJoin : command.sealwireLeave
    script.call(command, this.#keys.nodes, this.#keys.users, this.#link.prefix, this.#link.nodeId, userId).then((alone) => {
      if (alone === 1) this.announce([userId], status)
    }, (err: unknown) => this.#link.degrade(err))
  }
}
