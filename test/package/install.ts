// The package as its users get it: the sources as .dockerignore leaves them, built and packed by `npm pack`, and
// the tarball installed into an app of its own (test/package/consumer) by `npm ci --offline`: its dependencies come
// from npm's cache as this repository's lock file pins them, and better-sqlite3's compiled module is reused.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))

interface PackageJson {
  version: string
  license: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  overrides: Record<string, unknown>
  bin: Record<string, string>
  engines: Record<string, string>
}
interface LockEntry { dev?: boolean }

export interface Installed {
  /** the files in the tarball, as npm pack lists them */
  files: string[]
  /** the app that installed the tarball */
  app: string
  /** the installed package: node_modules/sealwire */
  pkg: string
}

function run (cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 })
}

/**
 * A lock file for the app: the tarball, and of this repository's lock every entry that is not a development one
 * (the tarball's dependencies are this repository's, hoisted the same way), plus TypeScript and Node's types.
 */
function consumerLock (ours: PackageJson, tarball: string, integrity: string): object {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const devDependencies = { typescript: ours.devDependencies.typescript, '@types/node': ours.devDependencies['@types/node'] }
  const tools = new Set(['node_modules/typescript', 'node_modules/@types/node', 'node_modules/undici-types'])
  const packages: Record<string, object> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { sealwire: tarball }, devDependencies },
    'node_modules/sealwire': {
      version: ours.version, resolved: tarball, integrity, license: ours.license, dependencies: ours.dependencies, bin: ours.bin, engines: ours.engines
    }
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && (entry.dev !== true || tools.has(path))) packages[path] = entry
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }
}

/** Packs this repository in `work` and installs the tarball into `work`/app. */
export function packAndInstall (work: string): Installed {
  const src = join(work, 'src')
  mkdirSync(src)
  run('bash', ['-c', `tar -c --exclude-from=.dockerignore . | tar -x -C "${src}"`], root)
  symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'))
  // `prepare` builds first, as it does before a publish
  const out = run('npm', ['pack', '--json', '--pack-destination', work], src)
  const [packed] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string, integrity: string, files: Array<{ path: string }> }>
  if (packed === undefined) throw new Error(`npm pack said nothing: ${out}`)

  const app = join(work, 'app')
  mkdirSync(app)
  const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson
  const tarball = `file:../${packed.filename}`
  const manifest = {
    name: 'consumer',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: { sealwire: tarball },
    devDependencies: { typescript: ours.devDependencies.typescript, '@types/node': ours.devDependencies['@types/node'] },
    // what the README asks of an app on Node 20
    overrides: ours.overrides
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2))
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(ours, tarball, packed.integrity), null, 2))
  run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app)
  cpSync(join(root, 'node_modules/better-sqlite3/build'), join(app, 'node_modules/better-sqlite3/build'), { recursive: true })
  for (const file of ['service.ts', 'plugins.ts', 'tsconfig.json']) cpSync(join(root, 'test/package/consumer', file), join(app, file))
  return { files: packed.files.map((f) => f.path), app, pkg: join(app, 'node_modules/sealwire') }
}
