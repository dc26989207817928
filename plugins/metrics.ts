import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { LATENCY_BUCKETS_MS } from '../services/analytics/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** this app's Prometheus registry (never prom-client's global one: several apps may share a process) */
    metrics: Registry
  }
}

export default fp(async (fastify) => {
  const { config, hub, analytics, messages } = fastify
  const registry = new Registry()
  fastify.decorate('metrics', registry)
  if (!config.METRICS_ENABLED) return

  // process CPU and memory, heap, handles, GC and the event-loop lag (nodejs_eventloop_lag_*)
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  /** a gauge read when scraped */
  const gauge = (name: string, help: string, read: () => number): Gauge => new Gauge({
    name, help, registers, collect () { this.set(read()) }
  })

  gauge('sealwire_connections', 'Open WebSocket connections.', () => hub.connectionCount())
  gauge('sealwire_online_users', 'Users with at least one open WebSocket connection.', () => hub.onlineUsers().length)
  const { cluster } = fastify
  if (cluster.state !== 'local') {
    gauge('sealwire_redis_up', 'With REDIS_URL: 1 while Redis is reachable, 0 while this node serves its own users alone.', () => cluster.state === 'ok' ? 1 : 0)
  }
  const sessions = new Counter({ name: 'sealwire_sessions_total', help: 'WebSocket sessions opened.', registers })
  const sessionDuration = new Histogram({
    name: 'sealwire_session_duration_seconds',
    help: 'Length of the WebSocket sessions that ended.',
    buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400],
    registers
  })
  const messagesTotal = new Counter({
    name: 'sealwire_messages_total',
    help: 'Messages by type and outcome (accepted, duplicate, delivered, rejected, refused); code is the refusal code.',
    labelNames: ['type', 'outcome', 'code'] as const,
    registers
  })
  const deliveryLatency = new Histogram({
    name: 'sealwire_delivery_latency_seconds',
    help: 'Direct messages, from being stored to the recipient\'s ack.',
    buckets: LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
    registers
  })
  const httpDuration = new Histogram({
    name: 'sealwire_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers
  })
  const commitDuration = new Histogram({
    name: 'sealwire_db_commit_duration_seconds',
    help: 'Database transactions from begin to commit, by store. The message store does not report its own yet.',
    labelNames: ['store'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers
  })
  const commits = new Counter({
    name: 'sealwire_db_commits_total',
    help: 'Database transactions committed, by store.',
    labelNames: ['store'] as const,
    registers,
    collect () {
      const n = messages.commits
      if (n > messageCommits) this.inc({ store: 'messages' }, n - messageCommits)
      messageCommits = n
    }
  })
  let messageCommits = messages.commits
  const flushFailures = new Counter({ name: 'sealwire_analytics_write_failures_total', help: 'Analytics writes that failed (their rows are kept and written again).', registers })
  gauge('sealwire_analytics_buffered_rows', 'Analytics rows waiting to be written.', () => analytics.buffered)
  let dropped = 0
  registry.registerMetric(new Counter({
    name: 'sealwire_analytics_dropped_sessions_total',
    help: 'Sessions not recorded because the database refused writes for too long.',
    registers: [],
    collect () {
      if (analytics.dropped > dropped) this.inc(analytics.dropped - dropped)
      dropped = analytics.dropped
    }
  }))

  analytics.onFlush(({ durationMs, ok }) => {
    if (!ok) {
      flushFailures.inc()
      return
    }
    commitDuration.observe({ store: 'analytics' }, durationMs / 1000)
    commits.inc({ store: 'analytics' })
  })

  // label sets are few (types × outcomes × codes): keep their children rather than hashing labels per message
  const children = new Map<string, Counter.Internal>()
  const messageCounter = (type: string, outcome: string, code = ''): Counter.Internal => {
    const key = `${type}\t${outcome}\t${code}`
    let child = children.get(key)
    if (child === undefined) {
      child = messagesTotal.labels({ type, outcome, code })
      children.set(key, child)
    }
    return child
  }
  const openedAt = new Map<string, number>()
  hub.onEvent((event) => {
    switch (event.kind) {
      case 'message':
        messageCounter(event.messageType, event.outcome, event.code).inc()
        break
      case 'delivered':
        messageCounter('direct', 'delivered').inc()
        deliveryLatency.observe(Math.max(0, event.latencyMs) / 1000)
        break
      case 'rejected':
        messageCounter('direct', 'rejected').inc()
        break
      case 'session-open':
        sessions.inc()
        openedAt.set(event.connectionId, event.at)
        break
      case 'session-close': {
        const at = openedAt.get(event.connectionId)
        if (at === undefined) break
        openedAt.delete(event.connectionId)
        sessionDuration.observe(Math.max(0, event.at - at) / 1000)
        break
      }
    }
  })

  fastify.addHook('onResponse', async (request, reply) => {
    // the route pattern, never the raw URL: one series per route, whatever the parameters
    const route = request.routeOptions.url ?? '(unmatched)'
    httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
}, { name: 'sealwire-metrics', dependencies: ['sealwire-config', 'sealwire-cluster', 'sealwire-hub', 'sealwire-analytics'] })
