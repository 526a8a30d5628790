import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { AuditEventController } from './audit-event.controller.js';
import { BinaryController } from './binary.controller.js';
import { BundleController } from './bundle.controller.js';
import { DocumentReferenceController } from './document-reference.controller.js';
import { DocumentReferenceSearchController } from './document-reference-search.controller.js';
import { MetadataController } from './metadata.controller.js';
import { ListController } from './list.controller.js';
import { TaskController } from './task.controller.js';
import { ProcessMessageController } from './process-message.controller.js';
import { TransactionController } from './transaction.controller.js';

/** The HTTP edge: FHIR REST protocol only; business rules live in the registry. */
@Module({
  imports: [RegistryModule, AuditModule],
  controllers: [
    MetadataController,
    BundleController,
    BinaryController,
    DocumentReferenceSearchController,
    DocumentReferenceController,
    TransactionController,
    ListController,
    AuditEventController,
    TaskController,
    ProcessMessageController,
  ],
})
export class FhirModule {}
