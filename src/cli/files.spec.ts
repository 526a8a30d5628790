import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFiles, kindByExtension, sniffFhir } from './files.js';

describe('kindByExtension', () => {
  it.each([
    ['a.json', { kind: 'fhir', format: 'json' }],
    ['A.XML', { kind: 'fhir', format: 'xml' }],
    ['letter.PDF', { kind: 'binary', contentType: 'application/pdf' }],
    ['scan.jpeg', { kind: 'binary', contentType: 'image/jpeg' }],
    ['notes.txt', { kind: 'binary', contentType: 'text/plain' }],
    ['README.md', undefined],
    ['noextension', undefined],
  ])('%s', (file, kind) => {
    expect(kindByExtension(file)).toEqual(kind);
  });
});

describe('sniffFhir', () => {
  it('reads the resourceType of JSON, past a byte order mark', () => {
    expect(sniffFhir(Buffer.from('\uFEFF{"resourceType":"Bundle","type":"document"}'), 'json')).toEqual({
      ok: true,
      resourceType: 'Bundle',
    });
  });

  it.each([
    ['broken JSON', '{"resourceType": ', /^not valid JSON/],
    ['JSON that is not a resource', '[1, 2]', /no resourceType/],
    ['a resourceType that is not a string', '{"resourceType": 7}', /no resourceType/],
  ])('refuses %s', (_label, text, reason) => {
    const sniffed = sniffFhir(Buffer.from(text), 'json');
    expect(sniffed.ok).toBe(false);
    expect(!sniffed.ok && sniffed.reason).toMatch(reason);
  });

  it('reads the root element of FHIR XML after the declaration, comments and processing instructions', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<!-- a <Patient> in a comment -->\n<?xml-stylesheet href="x"?>\n<Bundle xmlns="http://hl7.org/fhir"><type value="document"/></Bundle>`;
    expect(sniffFhir(Buffer.from(xml), 'xml')).toEqual({ ok: true, resourceType: 'Bundle' });
    expect(sniffFhir(Buffer.from('<f:Binary xmlns:f="http://hl7.org/fhir"/>'), 'xml')).toEqual({
      ok: true,
      resourceType: 'Binary',
    });
  });

  it.each([
    [
      'XML outside the FHIR namespace',
      '<Bundle><type value="document"/></Bundle>',
      /not in the http:\/\/hl7.org\/fhir namespace/,
    ],
    ['something that is not XML', 'hello', /no root element/],
    ['an empty file', '', /no root element/],
  ])('refuses %s', (_label, text, reason) => {
    const sniffed = sniffFhir(Buffer.from(text), 'xml');
    expect(sniffed.ok).toBe(false);
    expect(!sniffed.ok && sniffed.reason).toMatch(reason);
  });
});

describe('findFiles', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'find-files-'));
    await mkdir(path.join(root, 'docs', 'nested', 'deeper'), { recursive: true });
    await mkdir(path.join(root, 'docs', '.git'), { recursive: true });
    await writeFile(path.join(root, 'docs', 'b.json'), '{}');
    await writeFile(path.join(root, 'docs', 'a.xml'), '<x/>');
    await writeFile(path.join(root, 'docs', 'nested', 'deeper', 'letter.pdf'), '%PDF');
    await writeFile(path.join(root, 'docs', 'notes.md'), '# notes');
    await writeFile(path.join(root, 'docs', '.hidden.json'), '{}');
    await writeFile(path.join(root, 'docs', '.git', 'config.json'), '{}');
    await writeFile(path.join(root, 'named.md'), 'named explicitly');
    // a link back up the tree must not loop
    await symlink(path.join(root, 'docs'), path.join(root, 'docs', 'nested', 'loop'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('walks folders in path order, skipping hidden entries and unknown types, and keeps a file named explicitly', async () => {
    const found = await findFiles([path.join(root, 'docs'), path.join(root, 'named.md')]);
    expect(found.files.map((f) => path.relative(root, f.path))).toEqual([
      'docs/a.xml',
      'docs/b.json',
      'docs/nested/deeper/letter.pdf',
      'named.md',
    ]);
    expect(found.files.find((f) => f.path.endsWith('named.md'))?.kind).toBeUndefined();
    expect(found.files.find((f) => f.path.endsWith('letter.pdf'))).toMatchObject({
      size: 4,
      kind: { kind: 'binary', contentType: 'application/pdf' },
    });
    expect(found.skipped.map((f) => path.basename(f)).sort()).toEqual(['.git', '.hidden.json', 'notes.md']);
  });

  it('fails on a path that does not exist', async () => {
    await expect(findFiles([path.join(root, 'missing')])).rejects.toThrow(/ENOENT/);
  });
});
