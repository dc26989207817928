// Children and temporary folders must not outlive the bench, whether it ends normally, throws or is
// interrupted. 'exit' handlers must be synchronous, so every cleanup step here is.
type Step = () => void

const steps = new Set<Step>()
let installed = false

export function onCleanup (step: Step): () => void {
  steps.add(step)
  return () => { steps.delete(step) }
}

export function runCleanup (): void {
  for (const step of [...steps].reverse()) {
    steps.delete(step)
    try {
      step()
    } catch {
      // best effort: one failed step must not keep the others from running
    }
  }
}

export function installCleanupHandlers (): void {
  if (installed) return
  installed = true
  process.on('exit', runCleanup)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping`)
      runCleanup()
      process.exit(130)
    })
  }
}
