/**
 * Polls a real condition until it holds. The deadline only bounds a failure: it is generous so that a loaded
 * machine does not fail a test that would pass, and nothing is assumed to have happened because time passed.
 */
export async function until (check: () => boolean | Promise<boolean>, what = 'the condition', ms = 30_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Waits for an event's promise, failing with `what` once the (generous) deadline has passed. */
export async function within<T> (promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
