import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { BinaryEntity } from '../../src/registry/binary.entity.js';
import { BinaryRepository } from '../../src/registry/binary.repository.js';
import { BlobReferenceRepository } from '../../src/registry/blob-reference.repository.js';
import { DocumentBundleEntity } from '../../src/registry/document-bundle.entity.js';
import { DocumentBundleRepository } from '../../src/registry/document-bundle.repository.js';
import { newBlobKey } from '../../src/storage/blob-key.js';
import { type Dialect, openTestDatabase } from '../utils/database.js';

const blob = () => ({ blobKey: newBlobKey(), size: 1, sha256: '0'.repeat(64), sha1: 'x', createdAt: Date.now() });

describe.each<Dialect>(['sqlite', 'postgres'])('blob references on %s', (dialect) => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDatabase(dialect));
  });
  afterAll(() => close());

  it('finds the keys document and Binary rows name, and releases those a purge marked', async () => {
    const documents = new DocumentBundleRepository(dataSource);
    const binaries = new BinaryRepository(dataSource);
    const document: DocumentBundleEntity = {
      id: randomUUID(),
      identifierSystem: 'urn:ietf:rfc:3986',
      identifierValue: randomUUID(),
      fhirVersion: '4.0.1',
      contentType: 'application/fhir+json',
      custodianOds: 'RTG',
      purgedAt: null,
      ...blob(),
    };
    const binary: BinaryEntity = {
      id: randomUUID(),
      contentType: 'application/pdf',
      ownerOds: 'RTG',
      purgedAt: null,
      ...blob(),
    };
    const purgedBinary: BinaryEntity = { ...binary, id: randomUUID(), ...blob() };
    await documents.insert(dataSource.manager, document);
    await binaries.insert(binary);
    await binaries.insert(purgedBinary);
    const orphan = newBlobKey();
    const references = new BlobReferenceRepository(dataSource);

    const before = await references.referencedAmong([document.blobKey, binary.blobKey, purgedBinary.blobKey, orphan]);
    expect([...before].sort()).toEqual([document.blobKey, binary.blobKey, purgedBinary.blobKey].sort());

    await dataSource.transaction(async (manager) => {
      await binaries.markPurged(manager, [purgedBinary.id], Date.now());
      await documents.markPurged(manager, [document.id], Date.now());
    });

    const after = await references.referencedAmong([document.blobKey, binary.blobKey, purgedBinary.blobKey, orphan]);
    expect([...after]).toEqual([binary.blobKey]);
    expect((await binaries.findById(purgedBinary.id))?.purgedAt).toEqual(expect.any(Number));
    expect(await references.referencedAmong([])).toEqual(new Set());
  });
});
