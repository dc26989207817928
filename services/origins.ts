/**
 * Whether a WebSocket upgrade may come from `origin`. Browsers always send Origin on an upgrade; other clients
 * need not, and cannot be driven cross-site by a page, so a missing Origin passes. `allowed` is ALLOWED_ORIGINS
 * as parsed (normalised origins); empty, or holding `*`, allows any.
 */
export function originAllowed (origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.length === 0 || allowed.includes('*')) return true
  return allowed.includes(origin)
}
