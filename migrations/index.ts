import type { Migration } from 'kysely'
import * as initial from './2026-11-25-001-initial.js'
import * as ackIndex from './2026-11-25-002-ack-index.js'
import * as analytics from './2026-11-25-003-analytics.js'
import * as revokedTokens from './2026-11-25-004-revoked-tokens.js'
import * as keyEpochs from './2026-12-02-001-key-epochs.js'

// Listed statically so that migrations work the same from source (tsx) and from dist/.
export const migrations: Record<string, Migration> = {
  '2026-11-25-001-initial': initial,
  '2026-11-25-002-ack-index': ackIndex,
  '2026-11-25-003-analytics': analytics,
  '2026-11-25-004-revoked-tokens': revokedTokens,
  '2026-12-02-001-key-epochs': keyEpochs
}
