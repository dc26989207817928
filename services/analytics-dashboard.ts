import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

/** One file of the dashboard, ready to send. */
export interface Asset {
  body: Buffer
  gzip: Buffer
  etag: string
  type: string
}

export interface DashboardAssets {
  /** index.html with `%BASE%` still to fill in; `%JS%` and `%CSS%` name the versioned assets */
  html: string
  js: Asset
  css: Asset
}

// The sources sit in dashboard/ at the package root: one level up from services/ when run from the
// TypeScript sources, two from dist/services/ when run compiled. `npm run build` writes the bundled page to
// dist/dashboard/, one level up from dist/services/.
const CANDIDATES = ['../dashboard/', '../../dashboard/'].map((up) => fileURLToPath(new URL(up, import.meta.url)))

function sourceDir (): string {
  const dir = CANDIDATES.find((d) => existsSync(`${d}main.ts`) && existsSync(`${d}index.html`))
  if (dir === undefined) throw new Error('the dashboard sources (dashboard/main.ts) are not installed')
  return dir
}

function builtDir (): string | undefined {
  return CANDIDATES.find((d) => existsSync(`${d}app.js`) && existsSync(`${d}index.html`))
}

function asset (body: Buffer, type: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, type }
}

/**
 * Bundles dashboard/main.ts (Chart.js and @noble/curves included, so the page needs no network beyond this
 * server) with esbuild, in memory. esbuild is a development dependency: it is imported only here, when the
 * dashboard is first asked for.
 */
async function bundleScript (dir: string): Promise<Buffer> {
  let esbuild: typeof import('esbuild')
  try {
    esbuild = await import('esbuild')
  } catch (err) {
    throw new Error('the dashboard is bundled with esbuild, which is not installed (install the dev dependencies)', { cause: err })
  }
  const result = await esbuild.build({
    entryPoints: [`${dir}main.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    minify: true,
    // Chart.js and noble are MIT: their notices travel with the bundle
    legalComments: 'eof',
    outfile: 'app.js',
    logLevel: 'silent'
  })
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))
  if (js === undefined) throw new Error('esbuild produced no JavaScript')
  return Buffer.from(js.contents)
}

/** Writes the bundled dashboard (app.js, index.html, style.css) to `outDir`, at build time. */
export async function writeDashboard (outDir: string): Promise<void> {
  const dir = sourceDir()
  await mkdir(outDir, { recursive: true })
  await writeFile(`${outDir}/app.js`, await bundleScript(dir))
  for (const file of ['index.html', 'style.css']) await copyFile(`${dir}${file}`, `${outDir}/${file}`)
}

async function bundle (): Promise<DashboardAssets> {
  // installed without development dependencies, the bundle written by `npm run build` is all there is
  const built = builtDir()
  const dir = built ?? sourceDir()
  const script = built !== undefined ? await readFile(`${built}app.js`) : await bundleScript(dir)
  const jsAsset = asset(script, 'text/javascript; charset=utf-8')
  const cssAsset = asset(await readFile(`${dir}style.css`), 'text/css; charset=utf-8')
  const version = (a: Asset): string => a.etag.slice(1, 13)
  const html = (await readFile(`${dir}index.html`, 'utf8'))
    .replace('%JS%', `dashboard/app.js?v=${version(jsAsset)}`)
    .replace('%CSS%', `dashboard/app.css?v=${version(cssAsset)}`)
  return { html, js: jsAsset, css: cssAsset }
}

let cached: Promise<DashboardAssets> | undefined

/** The dashboard's files, bundled once per process on first use; a failed bundle is tried again next time. */
export async function dashboardAssets (): Promise<DashboardAssets> {
  cached ??= bundle().catch((err: unknown) => {
    cached = undefined
    throw err
  })
  return await cached
}

/** The page for an app served under `base` (`/`, or `/chat/` under a prefix). */
export function dashboardPage (assets: DashboardAssets, base: string): string {
  const escaped = base.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return assets.html.replace('%BASE%', escaped)
}
