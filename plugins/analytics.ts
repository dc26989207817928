import fp from 'fastify-plugin'
import { Analytics } from '../services/analytics/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** sessions, message counts, delivery latency and active users, recorded from hub events */
    analytics: Analytics
  }
}

export default fp(async (fastify) => {
  const { config, hub } = fastify
  const analytics = new Analytics({
    db: fastify.db,
    instanceId: fastify.cluster.nodeId,
    live: () => ({ connections: hub.connectionCount(), onlineUsers: hub.onlineUsers().length }),
    closing: () => hub.closing,
    retentionDays: config.ANALYTICS_RETENTION_DAYS,
    log: fastify.log
  })
  fastify.decorate('analytics', analytics)

  if (!config.ANALYTICS_ENABLED) return
  await analytics.start(config.ANALYTICS_FLUSH_MS)
  // a listener runs on the delivery path: record() only touches memory, the timer writes
  hub.onEvent((event) => analytics.record(event))
  // onClose hooks run last-registered first, so this one writes before the db plugin closes the database;
  // by then the hub's preClose has ended every connection
  fastify.addHook('onClose', async () => {
    await analytics.close()
  })
}, { name: 'sealwire-analytics', dependencies: ['sealwire-config', 'sealwire-db', 'sealwire-cluster', 'sealwire-auth', 'sealwire-hub'] })
