// Builds the browser bundle of the SDK with esbuild (at build time: esbuild is a development dependency).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/** One ES module with no imports left, for browsers; written to `outfile`. */
export async function bundleBrowserSdk (outfile: string, { minify = true } = {}): Promise<void> {
  await build({
    // from the TypeScript sources when they are here, else from the compiled output
    entryPoints: [fileURLToPath(new URL(`./index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify,
    sourcemap: true,
    legalComments: 'eof',
    absWorkingDir: root,
    logLevel: 'warning'
  })
}

/** The file name of the web page's script (not `app.js`: tsc writes that one, unbundled, beside it). */
export const WEB_SCRIPT = 'sealwire-web.js'
/** The page's files that are served as they are. */
export const WEB_STATIC = ['index.html', 'styles.css', 'icon.svg']

/**
 * The web page of client/web: its script bundled with the SDK into one ES module, with its source map, and its
 * HTML, CSS and icon; in memory, by file name.
 */
export async function buildWebPage ({ minify = true } = {}): Promise<Map<string, Uint8Array>> {
  const fromSources = import.meta.url.endsWith('.ts')
  const result = await build({
    entryPoints: [fileURLToPath(new URL(`./web/app${fromSources ? '.ts' : '.js'}`, import.meta.url))],
    // nothing is written: the path only names the outputs
    outfile: join(root, 'web-build', WEB_SCRIPT),
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify,
    sourcemap: 'linked',
    legalComments: 'eof',
    absWorkingDir: root,
    logLevel: 'warning'
  })
  const files = new Map<string, Uint8Array>(result.outputFiles.map((f) => [basename(f.path), f.contents]))
  // tsc compiles only the TypeScript: the other files come from the sources, beside the compiled output or not
  const assets = new URL(fromSources ? './web/' : '../../client/web/', import.meta.url)
  for (const name of WEB_STATIC) files.set(name, readFileSync(new URL(name, assets)))
  return files
}

/** Writes the web page (see buildWebPage) into `outdir`. */
export async function bundleWebPage (outdir: string, options: { minify?: boolean } = {}): Promise<void> {
  const files = await buildWebPage(options)
  mkdirSync(outdir, { recursive: true })
  for (const [name, contents] of files) writeFileSync(join(outdir, name), contents)
}
