/** Jest in native ESM mode: NestJS 12 ships ES modules only. */
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }] },
};
export default {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'] },
    // compiled server processes and real dependencies under load (npm run test:faults)
    { ...base, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.faults.spec.ts'] },
  ],
  testTimeout: 60000,
  // Jest's ESM module registry keeps every test file's modules alive; run in band, the one process grew past 4 GB and
  // spent the run collecting garbage (files that take 3 s alone took 100 s). A worker that has grown past this is
  // replaced between test files (this also takes the tests out of jest's own process).
  workerIdleMemoryLimit: '1536MB',
};
