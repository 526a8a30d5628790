import { Module } from '@nestjs/common';
import { BinaryService } from './binary.service.js';
import { DocumentReferenceRepository } from './document-reference.repository.js';
import { DocumentService } from './document.service.js';

/** The core: submitting and indexing documents, Binaries and the DocumentReference index. */
@Module({
  providers: [DocumentService, BinaryService, DocumentReferenceRepository],
  exports: [DocumentService, BinaryService, DocumentReferenceRepository],
})
export class RegistryModule {}
