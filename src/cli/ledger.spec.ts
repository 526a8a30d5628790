import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BinaryLedger, defaultLedgerPath } from './ledger.js';

describe('BinaryLedger', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ledger-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('remembers a Binary per server, content hash and type, across runs, in a private file', async () => {
    const file = path.join(dir, 'state', 'binaries.json');
    const ledger = await BinaryLedger.open(file);
    expect(ledger.find('http://a/fhir', 'abc', 'application/pdf')).toBeUndefined();
    await Promise.all([
      ledger.record('http://a/fhir', 'abc', 'application/pdf', 'bin-1'),
      ledger.record('http://a/fhir', 'def', 'image/png', 'bin-2'),
    ]);
    const reopened = await BinaryLedger.open(file);
    expect(reopened.find('http://a/fhir', 'abc', 'application/pdf')).toBe('bin-1');
    expect(reopened.find('http://a/fhir', 'def', 'image/png')).toBe('bin-2');
    expect(reopened.find('http://b/fhir', 'abc', 'application/pdf')).toBeUndefined();
    expect(reopened.find('http://a/fhir', 'abc', 'text/plain')).toBeUndefined();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    reopened.forget('http://a/fhir', 'abc', 'application/pdf');
    expect(reopened.find('http://a/fhir', 'abc', 'application/pdf')).toBeUndefined();
  });

  it('refuses a ledger it cannot read rather than silently sending everything again (exit 1)', async () => {
    const file = path.join(dir, 'binaries.json');
    await writeFile(file, '{ not json');
    await expect(BinaryLedger.open(file)).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/not valid JSON/),
    });
    await writeFile(file, '{"servers": []}');
    await expect(BinaryLedger.open(file)).rejects.toThrow(/not a ledger this tool wrote/);
    expect(await readFile(file, 'utf8')).toBe('{"servers": []}');
  });

  it('lives under XDG_STATE_HOME, else ~/.local/state', () => {
    expect(defaultLedgerPath({ XDG_STATE_HOME: '/state', HOME: '/home/u' })).toBe('/state/fhir-registry/binaries.json');
    expect(defaultLedgerPath({ HOME: '/home/u' })).toBe('/home/u/.local/state/fhir-registry/binaries.json');
  });
});
