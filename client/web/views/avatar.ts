// A person's initial on a colour of their own.
import { h } from '../dom.js'

export function initial (name: string): string {
  const first = name.codePointAt(0)
  return (first === undefined ? '?' : String.fromCodePoint(first)).toUpperCase()
}

/** A colour picked from the name, so each person keeps theirs. */
function hue (name: string): number {
  let n = 0
  for (const ch of name) n = (n * 31 + (ch.codePointAt(0) ?? 0)) % 360
  return n
}

export function hueClass (name: string): string {
  return `hue-${Math.floor(hue(name) / 30)}`
}

export function avatar (name: string, online: boolean): HTMLElement {
  return h('span', { class: `avatar ${hueClass(name)}`, 'aria-hidden': 'true' }, initial(name), online ? h('span', { class: 'dot' }) : null)
}
