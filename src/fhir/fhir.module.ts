import { Module } from '@nestjs/common';
import { RegistryModule } from '../registry/registry.module.js';
import { BinaryController } from './binary.controller.js';
import { BundleController } from './bundle.controller.js';
import { DocumentReferenceController } from './document-reference.controller.js';
import { MetadataController } from './metadata.controller.js';

/** The HTTP edge: FHIR REST protocol only; business rules live in the registry. */
@Module({
  imports: [RegistryModule],
  controllers: [MetadataController, BundleController, BinaryController, DocumentReferenceController],
})
export class FhirModule {}
