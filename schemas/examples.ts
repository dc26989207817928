// Examples for the OpenAPI and AsyncAPI documents, checked against their schemas where `withExamples` attaches them.
// They are real: alice's key binding, login answer and envelopes verify against her public key, and the direct
// message (its text "hello bob") is sealed to an X25519 key of bob's; only the session token's secret is made up.

const alice = {
  user_id: 'alice',
  public_key: '+GVXNj8JFntRCjHQSjmDBX4KSfStgaRyk4dJoC37DeA=',
  x25519_public_key: 'X3TkQFpL8hai807ybc2wlgBQ/f2pGNQ8FDavINdIrnk=',
  x25519_key_signature: 'ur/Ai3S5hX9ggahXQx4oa90y03QG7Ov+wbZUP4eAfXVjaWH7rmn8uHrlWZpDyzm+r37lTV/s1cjBI1FWR0aBCA=='
}
const AT = '2026-11-25T10:30:00.000Z'

export const REGISTER_EXAMPLE = { ...alice, username: 'Alice' }
export const PUBLIC_USER_EXAMPLE = { ...alice, username: 'Alice', x25519_key_epoch: 0, x25519_key_expires_at: null, created_at: AT }

export const CHALLENGE_EXAMPLE = { challenge: 'ZxAD3jt8AHdI1cGk8eB30c3bli+awspF58rDoE6ExpI=', expires_at: '2026-11-25T10:31:00.000Z' }
export const LOGIN_EXAMPLES = [
  { user_id: 'alice' },
  { user_id: 'alice', challenge: CHALLENGE_EXAMPLE.challenge, signature: 'HKgwJw7RNz5VOPES4H6Faq5rC26n1NzrkHz7Jy1wDtTYS9WZ3BDwZLWq+ag3ug+5JzlyLjzgAnyNEWv97q4HCw==' }
]
export const TOKEN_EXAMPLE = {
  token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImp0aSI6IjBiNmYzYzllLTJkNGEtNGU4Yi05ZjFjLTdhNWQzZTJiMWMwZiIsImlhdCI6MTc5NTYwMjYwMCwiZXhwIjoxNzk1Njg5MDAwfQ.pJnA9TzWcTCp1SlQdjHG4egLauWY91tuiL9pVOlAz88',
  expires_at: '2026-11-26T10:30:00.000Z'
}

export const ROTATE_KEY_EXAMPLE = {
  x25519_public_key: 'XfakTklAvEqqrzL79IoHB3DgFOmUjA1tJRAxI7rhrmg=',
  x25519_key_signature: '5yfne5z31skhpCuq7nNDvWU04ScCqpKZxGgNJGsoc95a/ZxqqIdLgYPZyzv82bQ2GcbLiD9W0LVOxEK394NiAg=='
}

export const DIRECT_EXAMPLE = {
  header: {
    id: '3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f8a9b0c',
    from: 'alice',
    to: 'bob',
    message_type: 'direct',
    timestamp: '2026-11-25T10:30:00.000Z',
    encrypted_key: 'OzWOE/d0hOzahAhYzgec0220xAnItBd7Pf4DblgctFrTyugk4CZ0d8SNBvK0sT1ebj2WwsCl29XJ4sT/EfZD9+65ZwPTSu9ish90TVxYuXc=',
    encryption_nonce: 'L6DVWqyxK+sU4RXQ',
    sender_encrypted_key: 'tvIEaRNEEJgAgieOTc3SqJPu/gW4k2TeZoorhxHN3zQtKLoZXRG465DcoGsEgThIey47q8C+OL/qjfE+y6ejLlRkTXP81HlG3r6JHPvyKu4=',
    signature: 'UbsSqG4KDDxW4S2VwIeFZCoTriuJ9RO6buPdhqb34SA7vEDMkAFCtnyTVsh7Rtbs2XKSZcxoetCWMkg/3az/Dg=='
  },
  body: {
    content: 'gG0vbo0qUd7qY7G3BWnmaAd2fsXeq/1Qwg=='
  }
} as const

export const BROADCAST_EXAMPLE = {
  header: {
    id: '5b2e8c1d-4f6a-4b7c-8d9e-0a1b2c3d4e5f',
    from: 'alice',
    to: '*',
    message_type: 'broadcast',
    timestamp: '2026-11-25T10:30:00.000Z',
    signature: '0fY1wonZ/SaYT3N/QQxWxza+VWNqNWLq2Iz4Ub4XRhlpZdMrI9SkZeI3pfItgavJTsFn4pOotvmTjdpjo8iVDA=='
  },
  body: {
    content: 'hello everyone'
  }
} as const

export const SERVER_COMMAND_EXAMPLE = {
  header: {
    id: '9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
    from: 'alice',
    to: 'server',
    message_type: 'server',
    timestamp: '2026-11-25T10:30:00.000Z',
    signature: 'BBBVnpnzMdau+NZncivSzjy7WvFTBEsSNtIL4iXVn80veuO2tDPjknXHuE/shkLnnL3q0GbdWS8xvC6SwFJODA=='
  },
  body: {
    content: '{"command":"echo","params":{"hello":"world"}}'
  }
} as const

// ---- analytics: one small range, consistent across the reports ------------------------------------------------

const counts = (accepted: number, delivered: number, refused: number) => ({ accepted, duplicate: 0, delivered, refused })
const LATENCY = { count: 118, mean_ms: 41.7, p50_ms: 25, p90_ms: 100, p99_ms: 250 }
const BY_TYPE = { direct: counts(120, 118, 2), broadcast: counts(6, 0, 0), server: counts(4, 0, 1) }
const REFUSED = [{ code: 'clock_skew', count: 2 }, { code: 'unknown_command', count: 1 }]

export const SUMMARY_EXAMPLE = {
  from: '2026-11-24T10:30:00.000Z',
  to: '2026-11-25T10:30:00.000Z',
  generated_at: '2026-11-25T10:30:00.120Z',
  live: { connections: 3, online_users: 2 },
  users: { registered: 12, new: 1, active: 5 },
  active_users: { day: '2026-11-25', dau: 5, wau: 8, mau: 11 },
  sessions: { started: 14, ended: 12, average_duration_s: 1380.5, longest_duration_s: 7260 },
  messages: counts(130, 118, 3),
  messages_by_type: BY_TYPE,
  refused_by_code: REFUSED,
  delivery_latency: LATENCY
}

export const DAILY_USERS_EXAMPLE = {
  from: '2026-11-24',
  to: '2026-11-26',
  days: [
    { day: '2026-11-24', dau: 6, wau: 8, mau: 11, new_users: 0, sessions_started: 9 },
    { day: '2026-11-25', dau: 5, wau: 8, mau: 11, new_users: 1, sessions_started: 5 }
  ]
}

export const MESSAGES_STATS_EXAMPLE = {
  from: '2026-11-25T08:00:00.000Z',
  to: '2026-11-25T10:00:00.000Z',
  interval: 'hour' as const,
  totals: counts(130, 118, 3),
  by_type: BY_TYPE,
  refused_by_code: REFUSED,
  delivery_latency: LATENCY,
  series: [
    { start: '2026-11-25T08:00:00.000Z', ...counts(70, 64, 1), latency_p50_ms: 25, latency_p99_ms: 250 },
    { start: '2026-11-25T09:00:00.000Z', ...counts(60, 54, 2), latency_p50_ms: 25, latency_p99_ms: 100 }
  ]
}

export const LIVE_EXAMPLE = {
  at: '2026-11-25T10:30:12.000Z',
  connections: 3,
  online_users: 2,
  series: [
    { minute: '2026-11-25T10:29:00.000Z', connections: 4, online_users: 3 },
    { minute: '2026-11-25T10:30:00.000Z', connections: 3, online_users: 2 }
  ]
}

/** bob's identity key: his reject of alice's direct message verifies with it */
export const BOB_PUBLIC_KEY = 'V8JrIbKtgELVPkVwKBj+A4DjidP16vAqfrFNLRIfFvQ='

export const REJECT_EXAMPLE = {
  header: {
    id: DIRECT_EXAMPLE.header.id,
    from: 'bob',
    to: 'alice',
    message_type: 'reject',
    timestamp: '2026-11-25T10:30:01.000Z',
    signature: 'K1p+R4lzk0HZ8B1zgAjQynsuwxNh/iS1x7zBAm9W6824i9RZ2f+Q6kWX9FIwtjLmbtdnGj457RC3f+Vix71dCw=='
  },
  body: {
    reason: 'decrypt_failed'
  }
} as const
