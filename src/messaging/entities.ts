import { MessageReceiptEntity } from './message-receipt.entity.js';

/** The messaging module's persisted entities: MessagingModule registers them, src/entities.ts lists them. */
export const MESSAGING_ENTITIES = [MessageReceiptEntity];
