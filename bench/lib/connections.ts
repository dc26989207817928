import WebSocket from 'ws'
import { mapLimit, waitFor } from './pool.js'
import { Tally } from './stats.js'

/** gets each text frame as the Buffer ws read it: decoding to a string is left to handlers that need it */
export type TextHandler = (data: Buffer) => void

export interface ConnectionSet {
  /** one per url; undefined where the connection failed */
  sockets: (WebSocket | undefined)[]
  /** failures to open, by reason */
  openErrors: Tally
  /** sockets that closed while the bench still wanted them, by close code */
  unexpectedCloses: Tally
  openCount: () => number
  closeAll: () => Promise<void>
}

function reason (err: Error): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EMFILE' || code === 'ENFILE') return `${code} (out of file descriptors: run 'ulimit -n 65536' first)`
  if (code === 'EADDRNOTAVAIL') return `${code} (out of local ports)`
  return code ?? err.message
}

function open (url: string, handler: TextHandler, unexpectedCloses: Tally, state: { closing: boolean }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // the server is trusted here: validating the UTF-8 of millions of arrivals would cost the generator, not it
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30_000, skipUTF8Validation: true })
    let opened = false
    ws.on('unexpected-response', (_req, res) => {
      ws.terminate()
      reject(new Error(`HTTP ${res.statusCode ?? '?'} on upgrade`))
    })
    ws.on('error', (err) => {
      if (!opened) reject(new Error(reason(err)))
    })
    ws.on('open', () => {
      opened = true
      resolve(ws)
    })
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      handler(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data))
    })
    ws.on('close', (code) => {
      if (opened && !state.closing) unexpectedCloses.add(`close ${code}`)
    })
  })
}

/** Opens one WebSocket per url, `concurrency` upgrades at a time; failures are counted, not thrown. */
export async function openConnections (urls: readonly string[], concurrency: number,
  handlerFor: (index: number) => TextHandler): Promise<ConnectionSet> {
  const openErrors = new Tally()
  const unexpectedCloses = new Tally()
  const state = { closing: false }
  let opened = 0
  const started = Date.now()
  const sockets = await mapLimit(urls, concurrency, async (url, index) => {
    try {
      const ws = await open(url, handlerFor(index), unexpectedCloses, state)
      opened++
      if (urls.length >= 2000 && opened % 1000 === 0) {
        console.error(`opened ${opened}/${urls.length} connections (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      }
      return ws
    } catch (err) {
      openErrors.add(err instanceof Error ? err.message : String(err))
      return undefined
    }
  })
  const openCount = (): number => sockets.filter((ws) => ws?.readyState === WebSocket.OPEN).length
  return {
    sockets,
    openErrors,
    unexpectedCloses,
    openCount,
    closeAll: async () => {
      state.closing = true
      for (const ws of sockets) ws?.close(1000)
      const closed = await waitFor(() => sockets.every((ws) => ws === undefined || ws.readyState === WebSocket.CLOSED), 5000, 50)
      if (!closed) for (const ws of sockets) ws?.terminate()
    }
  }
}
