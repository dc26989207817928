import { fileURLToPath } from 'node:url'
import { spawnTsNode } from './child.js'
import { readCpuSeconds, readRssBytes } from './proc.js'
import { PROJECT_ROOT, type ServerHandle } from './server-process.js'

const BARE_SCRIPT = fileURLToPath(new URL('../bare-ws-server.ts', import.meta.url))

/** Starts bench/bare-ws-server.ts on a port of its choosing and waits for its "listening <port>" line. */
export async function startBareServer (): Promise<ServerHandle> {
  let announce: (port: number) => void = () => {}
  const announced = new Promise<number>((resolve) => { announce = resolve })
  const child = spawnTsNode(BARE_SCRIPT, [], { ...process.env, BARE_WS_PORT: '0' }, PROJECT_ROOT, 'bare-ws', (line) => {
    const match = /^listening (\d+)$/.exec(line)
    if (match?.[1] !== undefined) announce(Number(match[1]))
  })
  const port = await Promise.race([
    announced,
    child.exited.then((code) => { throw new Error(`bare ws server exited (${String(code)}):\n${child.tail()}`) }),
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('bare ws server did not start in 20 s')), 20_000).unref())
  ]).catch(async (err: unknown) => {
    await child.stop()
    throw err
  })
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    baseUrl,
    baseUrls: [baseUrl],
    stores: 'none',
    pid: child.pid,
    rssBytes: () => readRssBytes(child.pid),
    cpuSeconds: () => readCpuSeconds(child.pid),
    stop: async () => { await child.stop() }
  }
}
