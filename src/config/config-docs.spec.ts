import {
  README_TABLE_END,
  README_TABLE_START,
  renderConfigTable,
  renderEnvExample,
  withConfigTable,
} from './config-docs.js';

const variables = [
  { name: 'PORT', default: '8080', doc: 'TCP port' },
  { name: 'BASE_URL', default: 'http://HOST:PORT', doc: 'public base URL' },
  { name: 'HOST', default: '127.0.0.1', doc: 'interface | address' },
  { name: 'TOKEN', default: '', doc: 'a secret' },
];

describe('configuration docs generated from the config table', () => {
  it('renders one table row per variable, escaping pipes and leaving empty defaults blank', () => {
    const table = renderConfigTable(variables);
    expect(table.split('\n')).toEqual([
      README_TABLE_START,
      '| Variable | Default | Meaning |',
      '|---|---|---|',
      '| `PORT` | `8080` | TCP port |',
      '| `BASE_URL` | `http://HOST:PORT` | public base URL |',
      '| `HOST` | `127.0.0.1` | interface \\| address |',
      '| `TOKEN` |  | a secret |',
      README_TABLE_END,
    ]);
  });

  it('leaves a default derived from other variables unset in .env.example and names it in the comment', () => {
    const example = renderEnvExample(variables);
    expect(example).toContain('# public base URL (default http://HOST:PORT)\nBASE_URL=\n');
    expect(example).toContain('# TCP port\nPORT=8080\n');
    expect(example).toContain('TOKEN=\n');
  });

  it('replaces only what lies between the markers, and refuses a README without them', () => {
    const readme = `# Title\n\n${README_TABLE_START}\nold\n${README_TABLE_END}\n\n## Next\n`;
    expect(withConfigTable(readme, 'NEW')).toBe('# Title\n\nNEW\n\n## Next\n');
    expect(() => withConfigTable('# no table\n', 'NEW')).toThrow(/lacks the markers/);
  });
});
