import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MessageReceiptLog } from '../registry/message-receipts.js';
import { RegistryModule } from '../registry/registry.module.js';
import { MESSAGING_ENTITIES } from './entities.js';
import { MessageReceiptRepository } from './message-receipt.repository.js';
import { MessagingService } from './messaging.service.js';

/**
 * ITK3 FHIR messaging: message Bundles in, infrastructure acknowledgements back, business acknowledgements out when
 * a recipient answers. Global so the registry's writer can inject MessageReceiptLog without importing this module.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature(MESSAGING_ENTITIES), RegistryModule],
  providers: [
    MessageReceiptRepository,
    { provide: MessageReceiptLog, useExisting: MessageReceiptRepository },
    MessagingService,
  ],
  exports: [MessageReceiptLog, MessagingService],
})
export class MessagingModule {}
