import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { onCleanup } from './cleanup.js'

export interface Child {
  process: ChildProcess
  pid: number
  /** resolves when the child has exited */
  exited: Promise<number | null>
  /** SIGTERM, then SIGKILL after graceMs */
  stop: (graceMs?: number) => Promise<void>
  /** the last lines the child wrote, for error messages */
  tail: () => string
}

/** Starts `node --import tsx <script>` with its output forwarded to our stderr (stdout stays for the report). */
export function spawnTsNode (script: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, label: string,
  onLine?: (line: string) => void): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid === undefined) throw new Error(`could not start ${label}`)
  const pid = child.pid
  const lines: string[] = []
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line)
      if (lines.length > 20) lines.shift()
      onLine?.(line)
      process.stderr.write(`[${label}] ${line}\n`)
    })
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let alive = true
  void exited.then(() => { alive = false })
  const forget = onCleanup(() => { if (alive) child.kill('SIGKILL') })

  return {
    process: child,
    pid,
    exited,
    tail: () => lines.join('\n'),
    stop: async (graceMs = 3000) => {
      if (alive) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => { if (alive) child.kill('SIGKILL') }, graceMs)
        await exited
        clearTimeout(timer)
      }
      forget()
    }
  }
}
