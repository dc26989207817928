// The server commands pane: the list the server offers, a form, and the results, latest first.
import type { JsonValue } from '../../index.js'
import { describeError } from '../describe.js'
import { byId, fieldError, h, listen } from '../dom.js'

export interface CommandsOptions {
  command: (name: string, params?: JsonValue) => Promise<JsonValue>
  onRateLimited: (retryAfterMs: number | undefined) => void
}

export class CommandsPane {
  readonly #el = {
    form: byId('command-form', HTMLFormElement),
    name: byId('command-name', HTMLInputElement),
    names: byId('command-names', HTMLDataListElement),
    params: byId('command-params', HTMLTextAreaElement),
    paramsError: byId('command-params-error', HTMLElement),
    list: byId('command-list', HTMLElement),
    results: byId('command-results', HTMLOListElement)
  }

  readonly #options: CommandsOptions
  #listed = false

  constructor (options: CommandsOptions, signal: AbortSignal) {
    this.#options = options
    const on = listen(signal)
    const { form, params } = this.#el
    on(form, 'submit', (e) => { e.preventDefault(); void this.#run() })
    on(params, 'input', () => { fieldError(params, this.#el.paramsError, undefined) })
    on(params, 'keydown', (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit() }
    })
  }

  /** The pane is shown: the first time, the server's list of commands is fetched. */
  open (): void {
    if (!this.#listed) void this.#list()
    this.#el.name.focus()
  }

  clear (): void {
    this.#el.results.replaceChildren()
  }

  async #list (): Promise<void> {
    try {
      const list = await this.#options.command('list_commands')
      if (!Array.isArray(list)) return
      this.#listed = true
      const commands = list.filter((c): c is { name: string, description: string } =>
        typeof c === 'object' && c !== null && !Array.isArray(c) && typeof c.name === 'string' && typeof c.description === 'string')
      this.#el.names.replaceChildren(...commands.map((c) => h('option', { value: c.name }, c.description)))
      this.#el.list.replaceChildren(
        h('h3', { class: 'results-title' }, 'Available commands'),
        h('ul', { class: 'chips' }, ...commands.map((c) => h('li', {}, h('button', {
          type: 'button',
          class: 'chip',
          title: c.description,
          onclick: () => {
            this.#el.name.value = c.name
            this.#el.params.focus()
          }
        }, h('code', {}, c.name), h('span', { class: 'chip-desc' }, c.description)))))
      )
    } catch {
      // the list is a convenience: the form works without it
    }
  }

  async #run (): Promise<void> {
    const { name: nameInput, params: paramsInput, paramsError, results } = this.#el
    const name = nameInput.value.trim()
    if (name === '') {
      nameInput.setAttribute('aria-invalid', 'true')
      nameInput.focus()
      return
    }
    nameInput.removeAttribute('aria-invalid')
    let params: JsonValue | undefined
    const raw = paramsInput.value.trim()
    if (raw !== '') {
      try {
        params = JSON.parse(raw) as JsonValue
      } catch (err) {
        fieldError(paramsInput, paramsError, `Not valid JSON: ${(err as Error).message}`)
        paramsInput.focus()
        return
      }
    }
    const status = h('span', { class: 'result-status' }, 'running…')
    const output = h('pre', { class: 'result-output' })
    const item = h('li', { class: 'result pending' },
      h('p', { class: 'result-head' }, h('code', {}, `${name}${params === undefined ? '' : ` ${JSON.stringify(params)}`}`), ' ', status),
      output)
    results.prepend(item)
    try {
      const result = await this.#options.command(name, params)
      item.className = 'result ok'
      status.textContent = 'ok'
      output.textContent = JSON.stringify(result, null, 2)
    } catch (err) {
      const d = describeError(err)
      item.className = 'result error'
      status.textContent = d.code
      output.textContent = d.text
      if (d.code === 'rate_limited') this.#options.onRateLimited(d.retryAfterMs)
    }
  }
}
