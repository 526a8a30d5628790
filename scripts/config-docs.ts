// Regenerates README.md's configuration table and .env.example from the config table (src/config/app-config.ts).
// `npm run docs:config` writes them; `npm run docs:config -- --check` only reports whether they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvExample, withConfigTable } from '../src/config/config-docs.js';

const check = process.argv.includes('--check');
const files: [string, (current: string) => string][] = [
  ['README.md', (current) => withConfigTable(current)],
  ['.env.example', () => renderEnvExample()],
];
let stale = 0;
for (const [file, render] of files) {
  const current = readFileSync(file, 'utf8');
  const wanted = render(current);
  if (current === wanted) {
    continue;
  }
  stale += 1;
  if (check) {
    console.error(`${file} is stale: run npm run docs:config`);
  } else {
    writeFileSync(file, wanted);
    console.log(`${file} updated`);
  }
}
process.exitCode = check && stale > 0 ? 1 : 0;
