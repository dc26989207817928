import { sha512 } from '@noble/hashes/sha2.js'
import { utf8Encode } from '../services/protocol/base64.js'

/**
 * A 60-digit number two users compare out of band: the same on both sides, different when either identity
 * key differs. SHA-512 over both (user id, key) pairs in sorted order, 12 groups of 5 digits.
 */
export function safetyNumber (a: { userId: string, publicKey: string }, b: { userId: string, publicKey: string }): string {
  const parts = [a, b].map((p) => `${p.userId}:${p.publicKey}`).sort()
  const digest = sha512(utf8Encode(`sealwire/v1/safety-number:${parts.join('|')}`))
  const groups: string[] = []
  for (let i = 0; i < 12; i++) {
    let n = 0
    for (let j = 0; j < 5; j++) n = n * 256 + (digest[i * 5 + j] as number)
    groups.push(String(n % 100_000).padStart(5, '0'))
  }
  return groups.join(' ')
}
