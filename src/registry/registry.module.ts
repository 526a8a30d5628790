import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { Clock, SystemClock } from '../common/clock.js';
import { BinaryRepository } from './binary.repository.js';
import { BlobReferenceRepository } from './blob-reference.repository.js';
import { BlobSweepService } from './blob-sweep.service.js';
import { BinaryService } from './binary.service.js';
import { DeliveryTaskRepository } from './delivery-task.repository.js';
import { DeliveryTaskService } from './delivery-task.service.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import { DocumentReferenceRepository } from './document-reference.repository.js';
import { DocumentReferenceSearchRepository } from './document-reference-search.repository.js';
import { DocumentService } from './document.service.js';
import { DocumentWriter } from './document-writer.js';
import { DocumentPurgeService } from './document-purge.service.js';
import { DocumentReferenceService } from './document-reference.service.js';
import { REGISTRY_ENTITIES } from './entities.js';
import { ProvideService } from './provide.service.js';
import { SubmissionSetRepository } from './submission-set.repository.js';

/** The core: submitting and indexing documents, Binaries and the DocumentReference index. */
@Module({
  imports: [TypeOrmModule.forFeature(REGISTRY_ENTITIES), AuditModule],
  providers: [
    DocumentWriter,
    DocumentService,
    DocumentBundleRepository,
    BinaryService,
    BinaryRepository,
    DocumentReferenceRepository,
    DocumentReferenceService,
    DocumentReferenceSearchRepository,
    ProvideService,
    SubmissionSetRepository,
    DeliveryTaskRepository,
    DeliveryTaskService,
    { provide: Clock, useClass: SystemClock },
    DocumentPurgeService,
    BlobReferenceRepository,
    BlobSweepService,
  ],
  exports: [
    DocumentService,
    BinaryService,
    DocumentReferenceRepository,
    DocumentReferenceService,
    DocumentReferenceSearchRepository,
    ProvideService,
    DeliveryTaskService,
    DocumentPurgeService,
    BlobSweepService,
    DocumentWriter,
  ],
})
export class RegistryModule {}
