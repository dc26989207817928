import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import GithubSlugger from 'github-slugger'
import t from 'tap'

// Every link in the README and docs/ must lead to a file of this repository (and to a heading that exists), or
// to the user's own server; a user's clone holds nothing else.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const allowedHosts = new Set(['localhost', '127.0.0.1', 'www.rfc-editor.org', 'datatracker.ietf.org'])

const documents = [
  'README.md',
  'bench/README.md',
  ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)
]

/** Markdown outside fenced and inline code, where a `[text](target)` is a link. */
function prose (markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
}

function links (markdown: string): string[] {
  const text = prose(markdown)
  const found = [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string)
  found.push(...[...text.matchAll(/<(https?:\/\/[^>\s]+)>/g)].map((m) => m[1] as string))
  return found
}

function anchors (markdown: string): Set<string> {
  const slugger = new GithubSlugger()
  const headings = prose(markdown).split('\n').filter((line) => /^#{1,6} /.test(line))
  return new Set(headings.map((line) => slugger.slug(line.replace(/^#+ /, '').trim())))
}

t.test('the tests find links and headings the way GitHub does', async (t) => {
  t.same(links('see [a](docs/a.md#x) and `[b](c.md)` and <http://localhost:3000/>'), ['docs/a.md#x', 'http://localhost:3000/'])
  t.ok(anchors('## npm start and fastify start').has('npm-start-and-fastify-start'))
  t.ok(anchors('## Analytics, metrics and the dashboard').has('analytics-metrics-and-the-dashboard'))
})

for (const document of documents) {
  t.test(document, async (t) => {
    const path = join(root, document)
    const markdown = readFileSync(path, 'utf8')
    t.notMatch(markdown, /\.\.\/shared|PROTOCOL(-v2)?\.md|ARCHITECTURE\.md/, 'names no file outside the repository')
    for (const link of links(markdown)) {
      if (/^[a-z]+:/i.test(link)) {
        const url = new URL(link)
        t.ok(['http:', 'https:'].includes(url.protocol) && allowedHosts.has(url.hostname), `${link}: the user's own server or a standard`)
        continue
      }
      const [file = '', anchor] = link.split('#')
      const target = file === '' ? path : resolve(dirname(path), file)
      t.notOk(relative(root, target).startsWith('..'), `${link} stays inside the repository`)
      t.ok(existsSync(target), `${link} exists`)
      if (anchor !== undefined && existsSync(target) && statSync(target).isFile() && target.endsWith('.md')) {
        t.ok(anchors(readFileSync(target, 'utf8')).has(anchor), `${link}: the heading exists`)
      }
    }
  })
}
