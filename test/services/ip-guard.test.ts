import t from 'tap'
import { IpGuard } from '../../services/ip-guard.js'

t.test('failures within the window block an address for blockMs by the clock, then it is let in again', async (t) => {
  let now = 0
  const events: string[] = []
  const guard = new IpGuard({
    maxFailures: 3,
    windowMs: 60_000,
    blockMs: 1000,
    now: () => now,
    onBlock: (ip, n) => events.push(`block ${ip} ${n}`),
    onUnblock: (ip) => events.push(`unblock ${ip}`)
  })
  guard.failure('10.0.0.66')
  guard.failure('10.0.0.66')
  t.equal(guard.blockedFor('10.0.0.66'), 0, 'two failures are not enough')
  now += 10
  guard.failure('10.0.0.66')
  t.equal(guard.blockedFor('10.0.0.66'), 1000, 'the third blocks for blockMs')
  t.equal(guard.blockedFor('10.0.0.67'), 0, 'only that address')
  now += 999
  t.equal(guard.blockedFor('10.0.0.66'), 1)
  now += 1
  t.equal(guard.blockedFor('10.0.0.66'), 0, 'let in once blockMs has passed')
  t.same(events, ['block 10.0.0.66 3', 'unblock 10.0.0.66'])
})

t.test('failures older than the window are forgotten', async (t) => {
  let now = 0
  const guard = new IpGuard({ maxFailures: 2, windowMs: 1000, blockMs: 1000, now: () => now })
  guard.failure('10.0.0.1')
  now += 1000
  guard.failure('10.0.0.1')
  t.equal(guard.blockedFor('10.0.0.1'), 0, 'the first failure has left the window')
  now += 999
  guard.failure('10.0.0.1')
  t.equal(guard.blockedFor('10.0.0.1'), 1000)
})
