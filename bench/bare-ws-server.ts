// The baseline of the broadcast scenario: the same fan-out as Sealwire with nothing else. Every text frame
// goes to every other client; the sender gets a receipt shaped like Sealwire's so the same client code
// drives both. No auth, no signature check, no storage.
import WebSocket, { WebSocketServer } from 'ws'

const port = Number(process.env.BARE_WS_PORT ?? '0')
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 1024 * 1024 })

function messageId (text: string): string {
  try {
    const frame: unknown = JSON.parse(text)
    if (typeof frame === 'object' && frame !== null && 'header' in frame) {
      const { header } = frame
      if (typeof header === 'object' && header !== null && 'id' in header && typeof header.id === 'string') return header.id
    }
  } catch {
    // not JSON: acknowledged without an id
  }
  return ''
}

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary || !Buffer.isBuffer(data)) return
    const ack = `{"header":{"message_type":"receipt","in_reply_to":${JSON.stringify(messageId(data.toString()))}},"body":{"status":"accepted"}}`
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: false })
    }
    ws.send(ack)
  })
})

wss.on('listening', () => {
  const address = wss.address()
  console.log(`listening ${typeof address === 'object' && address !== null ? address.port : String(address)}`)
})

process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate()
  wss.close(() => process.exit(0))
})
