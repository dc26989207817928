// tap's `before` step: the browser files that the page and dashboard tests serve, bundled from the sources into
// dist/public as `npm run build` does. In a process of its own, so that tap's coverage does not count the build.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../bin/build-assets.ts', import.meta.url))
execFileSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit', env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' } })
