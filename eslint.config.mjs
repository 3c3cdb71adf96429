// ESLint: neostandard (the Fastify ecosystem's style: standard, for TypeScript)
// over sources, tooling and tests; generated code and build output are not ours.
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'generated/**', 'coverage/**', '.tap/**', '.data/**', 'node_modules/**'] }),
  {
    rules: {
      // `void reply.header(…)`: a Fastify reply is thenable, and `void` says it is not awaited on purpose.
      'no-void': ['error', { allowAsStatement: true }],
      // A TypeBox schema and its Static<> type share a name (`Organization`); tsc already refuses real redeclarations.
      '@typescript-eslint/no-redeclare': 'off',
      // Long test names, SQL and messages are strings; code lines stay readable side by side.
      '@stylistic/max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }]
    }
  }
]
