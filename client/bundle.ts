// The browser files, bundled with esbuild at build time (`npm run build`, and tap's `before` step for the tests):
// esbuild is a development dependency, and the server only ever reads what this wrote.
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type BuildOptions } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const fromSources = import.meta.url.endsWith('.ts')
/** A module beside this one: the TypeScript source when run from the sources, else the compiled file. */
const entry = (name: string): string => fileURLToPath(new URL(`./${name}${fromSources ? '.ts' : '.js'}`, import.meta.url))
/** tsc compiles only the TypeScript: HTML, CSS and icons come from the sources, beside the compiled output or not. */
const sources = (dir: string): URL => new URL(fromSources ? `../${dir}/` : `../../${dir}/`, import.meta.url)

const BROWSERS: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  minify: true,
  // the licences of what is bundled (noble, Chart.js: MIT) travel with it
  legalComments: 'eof',
  absWorkingDir: root,
  logLevel: 'warning'
}

/** One ES module with no imports left, for browsers; written to `outfile`. */
export async function bundleBrowserSdk (outfile: string, { minify = true } = {}): Promise<void> {
  await build({ ...BROWSERS, entryPoints: [entry('index')], outfile, target: ['es2022'], minify, sourcemap: true })
}

/** The file name of the web page's script (not `app.js`: tsc writes that one, unbundled, beside its source). */
export const WEB_SCRIPT = 'sealwire-web.js'
/** The page's files that are served as they are. */
export const WEB_STATIC = ['index.html', 'styles.css', 'icon.svg']

const COMPRESSED = /\.(js|css|svg)$/

/**
 * Writes `files` into `outdir`, each by rename so that a server reading the folder never sees half a file, with a
 * gzip copy of each script, style sheet and icon (@fastify/static sends it to clients that accept it), and removes
 * whatever an earlier build left there.
 */
function writeFolder (outdir: string, files: Map<string, Uint8Array>): void {
  mkdirSync(outdir, { recursive: true })
  for (const [name, contents] of [...files]) {
    if (COMPRESSED.test(name)) files.set(`${name}.gz`, gzipSync(contents, { level: 9 }))
  }
  for (const [name, contents] of files) {
    const temporary = join(outdir, `.${name}.${process.pid}.tmp`)
    writeFileSync(temporary, contents)
    renameSync(temporary, join(outdir, name))
  }
  for (const name of readdirSync(outdir)) {
    if (!files.has(name)) rmSync(join(outdir, name), { force: true, recursive: true })
  }
}

/**
 * Writes the web page of client/web into `outdir`: its script bundled with the SDK into one ES module, with its
 * source map, and its HTML, CSS and icon.
 */
export async function bundleWebPage (outdir: string, { minify = true } = {}): Promise<void> {
  const result = await build({
    ...BROWSERS,
    entryPoints: [entry('web/app')],
    // nothing is written by esbuild: the path only names the outputs
    outfile: join(root, 'web-build', WEB_SCRIPT),
    write: false,
    target: ['es2022'],
    minify,
    sourcemap: 'linked'
  })
  const files = new Map<string, Uint8Array>(result.outputFiles.map((f) => [basename(f.path), f.contents]))
  for (const name of WEB_STATIC) files.set(name, readFileSync(new URL(name, sources('client/web'))))
  writeFolder(outdir, files)
}

/** The version a file's URL carries, so that it can be cached for good. */
const version = (contents: Uint8Array): string => createHash('sha256').update(contents).digest('base64url').slice(0, 12)

/**
 * Writes the operator dashboard into `outdir`: dashboard/main.ts bundled with Chart.js and @noble/curves (the page
 * needs no network beyond its server) as app.js, its style sheet as app.css, and index.html naming both with their
 * versions. `%BASE%` stays in index.html: the server fills it in with the prefix it serves the page under.
 */
export async function bundleDashboard (outdir: string): Promise<void> {
  const dir = sources('dashboard')
  const result = await build({
    ...BROWSERS,
    entryPoints: [fileURLToPath(new URL('main.ts', dir))],
    outfile: join(root, 'dashboard-build', 'app.js'),
    write: false,
    target: ['chrome109', 'firefox115', 'safari16']
  })
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))?.contents
  if (js === undefined) throw new Error('esbuild produced no JavaScript for the dashboard')
  const css = readFileSync(new URL('style.css', dir))
  const html = readFileSync(new URL('index.html', dir), 'utf8')
    .replace('%JS%', `dashboard/app.js?v=${version(js)}`)
    .replace('%CSS%', `dashboard/app.css?v=${version(css)}`)
  writeFolder(outdir, new Map([['index.html', Buffer.from(html)], ['app.js', js], ['app.css', css]]))
}
