// The server's name for the one base64 implementation, shared with the client SDK.
export { fromBase64 as decodeBase64, toBase64 as encodeBase64 } from './protocol/base64.js'
