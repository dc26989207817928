import fp from 'fastify-plugin'
import { Ed25519Verifier } from '../services/ed25519.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** strict Ed25519 verification with a KeyObject cache */
    ed25519: Ed25519Verifier
  }
}

export default fp(async (fastify) => {
  fastify.decorate('ed25519', new Ed25519Verifier())
}, { name: 'sealwire-crypto' })
