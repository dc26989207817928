import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [...neostandard.resolveIgnoresFromGitignore(), 'test/package/consumer/**']
  }),
  {
    rules: {
      // TypeBox's idiom: a schema and its Static type share one name.
      '@typescript-eslint/no-redeclare': 'off',
      // `void promise` marks a promise deliberately not awaited.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
