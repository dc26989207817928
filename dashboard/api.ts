// Calls to the Sealwire API, relative to the page's <base>, so that the dashboard works under any prefix.

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface RequestOptions {
  token?: string
  body?: unknown
}

export async function api<T> (path: string, { token, body }: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit'
    })
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached')
  }
  const json = await res.json().catch(() => null) as { code?: string, message?: string } | null
  if (!res.ok) throw new ApiError(res.status, json?.code ?? 'error', json?.message ?? res.statusText)
  return json as T
}

/** `?name=value&…` of the defined values. */
export function query (params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}
