import { BinaryEntity } from '../registry/binary.entity.js';
import { DocumentBundleEntity } from '../registry/document-bundle.entity.js';
import { DocumentReferenceEntity } from '../registry/document-reference.entity.js';
import { DocumentReferenceTokenEntity } from '../registry/document-reference-token.entity.js';
import { DocumentReferenceVersionEntity } from '../registry/document-reference-version.entity.js';

/** Every persisted entity; the migrations in migrations/sqlite and migrations/postgres are generated from these. */
export const ENTITIES = [
  DocumentBundleEntity,
  BinaryEntity,
  DocumentReferenceEntity,
  DocumentReferenceTokenEntity,
  DocumentReferenceVersionEntity,
];
