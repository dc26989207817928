import { Rand } from './util.js'

/** `npm run test:fuzz` (FUZZ_FULL=1) runs every generated case; `npm test` a fixed-seed sample of them. */
export const FUZZ_FULL = process.env.FUZZ_FULL === '1'
/** the share of the cases the sample keeps */
export const SAMPLE_SHARE = Number(process.env.FUZZ_SAMPLE ?? 0.12)

/**
 * A deterministic sample of `all` (the same seed picks the same cases), in their order, with at least one case
 * of each category that occurs in `all`. The cases are those of the full run, so a sample's failure replays
 * there too.
 */
export function sampleCases<T extends { category?: string }> (all: T[], seed: string, share = SAMPLE_SHARE): T[] {
  const rand = new Rand(`${seed}:sample`)
  const keep = new Set<number>()
  all.forEach((_, i) => { if (rand.int(1_000_000) < share * 1_000_000) keep.add(i) })
  const covered = new Set([...keep].map((i) => all[i]?.category))
  all.forEach((c, i) => {
    if (covered.has(c.category)) return
    covered.add(c.category)
    keep.add(i)
  })
  return [...keep].sort((a, b) => a - b).map((i) => all[i] as T)
}

/** Case counts per category, for the test output. */
export function categoryCounts (cases: Array<{ category?: string }>): string {
  const n: Record<string, number> = {}
  for (const c of cases) n[c.category ?? '?'] = (n[c.category ?? '?'] ?? 0) + 1
  return Object.entries(n).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ')
}
