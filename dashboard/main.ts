import type { DailyUsersResponse, LiveResponse, MessagesStatsResponse } from '../schemas/analytics.js'
import { api, ApiError, query } from './api.js'
import { COLORS, LiveChart } from './charts.js'
import { loginWithKey, parseSecretKey, tokenSubject } from './login.js'

// The session token lives in this tab only (sessionStorage survives a reload, not a new tab); never in a URL.
const TOKEN_KEY = 'sealwire.dashboard.token'
const MINUTES = 60
const DAYS = 30
/** the slow figures (days) are fetched every this many refreshes */
const SLOW_EVERY = 12

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing`)
  return el as T
}

const refreshSeconds = (() => {
  const asked = Number(new URLSearchParams(location.search).get('refresh'))
  return Number.isFinite(asked) && asked >= 1 && asked <= 300 ? asked : 5
})()

let token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined
let timer: number | undefined
let tick = 0
let charts: { live: LiveChart, messages: LiveChart, active: LiveChart } | undefined

const numberFormat = new Intl.NumberFormat()
const fmt = (n: number | null | undefined): string => n === null || n === undefined ? '–' : numberFormat.format(n)
const ms = (n: number | null): string => n === null ? '–' : n >= 1000 ? `${numberFormat.format(n / 1000)} s` : `${n} ms`
const hhmm = (iso: string): string => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })

function setStatus (text: string, problem = false): void {
  const el = $('status')
  el.textContent = text
  el.classList.toggle('problem', problem)
}

function showLogin (message = ''): void {
  window.clearTimeout(timer)
  token = undefined
  sessionStorage.removeItem(TOKEN_KEY)
  $('board').hidden = true
  $('logout').hidden = true
  $('who').textContent = ''
  $('login').hidden = false
  $('login-error').textContent = message
  setStatus('not logged in')
}

async function useToken (candidate: string): Promise<void> {
  // one admin call tells whether the token is valid and whose it is
  await api<LiveResponse>(`analytics/live${query({ minutes: 1 })}`, { token: candidate })
  token = candidate
  sessionStorage.setItem(TOKEN_KEY, candidate)
  $('login').hidden = true
  $('login-error').textContent = ''
  $('board').hidden = false
  $('logout').hidden = false
  $('who').textContent = tokenSubject(candidate) ?? ''
  charts ??= {
    live: new LiveChart($<HTMLCanvasElement>('chart-live'), 'line'),
    messages: new LiveChart($<HTMLCanvasElement>('chart-messages'), 'bar'),
    active: new LiveChart($<HTMLCanvasElement>('chart-active'), 'line')
  }
  tick = 0
  await refresh()
}

function explain (err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'admin_required') return 'This user is not an administrator (ADMIN_USERS).'
    if (err.status === 401) return 'Login failed: wrong user id, key or token, or the token has expired.'
    if (err.code === 'unknown_user') return 'No such user on this server.'
    return `${err.message} (${err.code})`
  }
  return err instanceof Error ? err.message : String(err)
}

async function refresh (): Promise<void> {
  window.clearTimeout(timer)
  if (token === undefined || charts === undefined) return
  const slow = tick % SLOW_EVERY === 0
  tick++
  try {
    const since = new Date(Math.floor(Date.now() / 60_000) * 60_000 - (MINUTES - 1) * 60_000).toISOString()
    const [live, stats] = await Promise.all([
      api<LiveResponse>(`analytics/live${query({ minutes: MINUTES })}`, { token }),
      api<MessagesStatsResponse>(`analytics/messages/stats${query({ interval: 'minute', from: since })}`, { token })
    ])
    renderLive(live, stats)
    if (slow) renderDays(await api<DailyUsersResponse>(`analytics/users/daily${query({})}`, { token }))
    setStatus(`updated ${new Date().toLocaleTimeString()} · every ${refreshSeconds} s`)
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      showLogin(err.status === 401 ? 'Your session has ended: log in again.' : explain(err))
      return
    }
    if (slow) tick = 0 // fetch the days again next time
    setStatus(`update failed: ${explain(err)}`, true)
  }
  schedule()
}

function schedule (): void {
  window.clearTimeout(timer)
  if (document.visibilityState === 'visible') timer = window.setTimeout(() => { void refresh() }, refreshSeconds * 1000)
}

function renderLive (live: LiveResponse, stats: MessagesStatsResponse): void {
  if (charts === undefined) return
  $('tile-connections').textContent = fmt(live.connections)
  $('tile-online').textContent = fmt(live.online_users)
  const points = live.series
  // the current minute shows at least what is open right now
  const last = points[points.length - 1]
  if (last !== undefined) {
    last.connections = Math.max(last.connections, live.connections)
    last.online_users = Math.max(last.online_users, live.online_users)
  }
  charts.live.update(points.map((p) => hhmm(p.minute)), [
    { label: 'connections', color: COLORS.blue, data: points.map((p) => p.connections), fill: true },
    { label: 'online users', color: COLORS.teal, data: points.map((p) => p.online_users) }
  ])

  const series = stats.series
  charts.messages.update(series.map((p) => hhmm(p.start)), [
    { label: 'accepted', color: COLORS.blue, data: series.map((p) => p.accepted) },
    { label: 'delivered', color: COLORS.green, data: series.map((p) => p.delivered) },
    { label: 'duplicate', color: COLORS.grey, data: series.map((p) => p.duplicate) },
    { label: 'refused', color: COLORS.red, data: series.map((p) => p.refused) }
  ])
  $('tile-rate').textContent = fmt(series[series.length - 1]?.accepted ?? 0)
  const { p50_ms: p50, p99_ms: p99 } = stats.delivery_latency
  $('tile-latency').textContent = p50 === null ? '–' : `${ms(p50)} / ${ms(p99)}`
  $('tile-refused').textContent = fmt(stats.totals.refused)
}

function renderDays (daily: DailyUsersResponse): void {
  if (charts === undefined) return
  const days = daily.days.slice(-DAYS)
  charts.active.update(days.map((d) => d.day.slice(5)), [
    { label: 'daily active (DAU)', color: COLORS.blue, data: days.map((d) => d.dau), marker: 'circle' },
    { label: 'weekly active (WAU)', color: COLORS.amber, data: days.map((d) => d.wau), dash: 'dashed', marker: 'triangle' },
    { label: 'monthly active (MAU)', color: COLORS.magenta, data: days.map((d) => d.mau), dash: 'dotted', marker: 'rect' }
  ])
  const today = days[days.length - 1]
  $('tile-dau').textContent = fmt(today?.dau)
  $('tile-wau').textContent = fmt(today?.wau)
  $('tile-mau').textContent = fmt(today?.mau)
}

function wire (): void {
  const keyUser = $<HTMLInputElement>('key-user')
  const keySecret = $<HTMLInputElement>('key-secret')
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      $('login-error').textContent = ''
      try {
        const key = parseSecretKey(keySecret.value)
        const userId = keyUser.value.trim() !== '' ? keyUser.value.trim() : key.userId
        if (userId === undefined || userId === '') throw new Error('enter the user id')
        setStatus('logging in…')
        const { token: fresh } = await loginWithKey(userId, key.seed)
        key.seed.fill(0)
        keySecret.value = ''
        await useToken(fresh)
      } catch (err) {
        showLogin(explain(err))
      }
    })()
  })
  $<HTMLInputElement>('key-file').addEventListener('change', (event) => {
    const file = (event.target as HTMLInputElement).files?.[0]
    if (file === undefined) return
    void file.text().then((text) => {
      keySecret.value = text
      const { userId } = parseSecretKey(text)
      if (userId !== undefined && keyUser.value === '') keyUser.value = userId
    }).catch((err: unknown) => { $('login-error').textContent = explain(err) })
      .finally(() => { (event.target as HTMLInputElement).value = '' })
  })
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const input = $<HTMLTextAreaElement>('token-input')
    const candidate = input.value.trim().replace(/^Bearer\s+/i, '')
    input.value = ''
    if (candidate === '') return
    setStatus('checking the token…')
    useToken(candidate).catch((err: unknown) => { showLogin(explain(err)) })
  })
  $('logout').addEventListener('click', () => { showLogin() })
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refresh()
    else window.clearTimeout(timer)
  })
}

wire()
if (token === undefined) showLogin()
else useToken(token).catch((err: unknown) => { showLogin(explain(err)) })
