// Builds the browser bundle of the SDK with esbuild (at build time: esbuild is a development dependency).
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

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outfile = process.argv[2] ?? fileURLToPath(new URL('./sealwire.browser.js', import.meta.url))
  await bundleBrowserSdk(outfile)
}
