import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { generate } from 'selfsigned'

export interface DevCertificate {
  cert: string
  key: string
}

/**
 * A self-signed P-256 certificate for development: localhost, 127.0.0.1, ::1 and any extra names, valid
 * 30 days. Browsers and the SDK accept it only when told to (INSECURE_TLS=true).
 */
export async function makeDevCertificate (names: string[] = []): Promise<DevCertificate> {
  const dns = ['localhost', ...names.filter((n) => !/^[\d.:]+$/.test(n))]
  const ips = ['127.0.0.1', '::1', ...names.filter((n) => /^[\d.:]+$/.test(n))]
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 30 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] }
    ]
  })
  return { cert: pems.cert, key: pems.private }
}

/** Writes server.crt and server.key (mode 600); refuses to overwrite unless asked. */
export function writeDevCertificate (pems: DevCertificate, certPath: string, keyPath: string, overwrite = false): void {
  for (const path of [certPath, keyPath]) {
    if (!overwrite && existsSync(path)) throw new Error(`${path} exists; not overwriting (use --force)`)
    mkdirSync(dirname(path), { recursive: true })
  }
  writeFileSync(certPath, pems.cert)
  writeFileSync(keyPath, pems.key, { mode: 0o600 })
  chmodSync(keyPath, 0o600)
}
