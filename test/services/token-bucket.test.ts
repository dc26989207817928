import t from 'tap'
import { TokenBuckets } from '../../services/token-bucket.js'

t.test('a burst, then the wait in milliseconds, then a refill by the clock, capped at the burst', async (t) => {
  let now = 1000
  const buckets = new TokenBuckets(5, 10, () => now)
  for (let i = 0; i < 10; i++) t.equal(buckets.take('alice'), 0, `token ${i + 1} of the burst`)
  t.equal(buckets.take('alice'), 200, 'empty: one token comes every 200 ms at 5 per second')
  t.equal(buckets.take('bob'), 0, 'each key has its own bucket')
  now += 100
  t.equal(buckets.take('alice'), 100, 'half way there')
  now += 100
  t.equal(buckets.take('alice'), 0, 'one token after 200 ms')
  t.equal(buckets.take('alice'), 200)
  now += 400
  t.equal(buckets.take('alice'), 0, 'two tokens came back in 400 ms')
  t.equal(buckets.take('alice'), 0)
  t.equal(buckets.take('alice'), 200, 'and no third')
  now += 60_000
  for (let i = 0; i < 10; i++) buckets.take('alice')
  t.equal(buckets.take('alice'), 200, 'a long pause refills up to the burst, not beyond')
})

t.test('prune forgets only the buckets that have refilled', async (t) => {
  let now = 0
  const buckets = new TokenBuckets(1, 2, () => now)
  buckets.take('alice')
  buckets.take('alice')
  buckets.take('bob')
  now += 1000
  buckets.prune()
  t.equal(buckets.size, 1, 'bob (one token short) is full again after a second; alice is not')
  now += 1000
  buckets.prune()
  t.equal(buckets.size, 0)
})
