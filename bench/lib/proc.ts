import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** VmRSS of a process in bytes, or undefined when it cannot be read (gone, not Linux). */
export function readRssBytes (pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

let clockTicks: number | undefined

function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat. */
export function readCpuSeconds (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may hold spaces; fields after its closing parenthesis are plain
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return Number.isFinite(utime + stime) ? (utime + stime) / ticksPerSecond() : undefined
  } catch {
    return undefined
  }
}

/** `git log --oneline -1` of the project, for the report. */
export function projectCommit (root: string): string | undefined {
  try {
    return execFileSync('git', ['-C', root, 'log', '--oneline', '-1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}
