import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import {
  DataSource,
  type EntityManager,
  type EntitySubscriberInterface,
  type QueryRunner,
  type TransactionCommitEvent,
  type TransactionRollbackEvent,
} from 'typeorm';
import { DocumentEventLog, type DocumentEvent } from '../registry/document-events.js';
import { NotificationOutboxRepository } from './notification-outbox.repository.js';
import { type OutboundMessage, OutboundMessageRepository } from './outbound-message.repository.js';

/**
 * The write side of the transactional outbox: the registry appends an event inside its own DocumentReference
 * transaction, so a committed change always has its notification row, and a rolled-back one never does.
 */
@Injectable()
export class NotificationOutbox implements DocumentEventLog, OnModuleInit, EntitySubscriberInterface {
  private readonly pending = new WeakSet<QueryRunner>();
  private readonly listeners = new Set<() => void>();
  private readonly detached = AsyncLocalStorage.snapshot();

  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: NotificationOutboxRepository,
    private readonly messages: OutboundMessageRepository,
  ) {}

  onModuleInit(): void {
    // A TypeORM subscriber sees every commit; ours only pokes the relay after transactions that appended.
    this.dataSource.subscribers.push(this);
  }

  /** Writes one outbox row inside the caller's transaction (`manager` of dataSource.transaction). */
  async append(manager: EntityManager, event: DocumentEvent): Promise<void> {
    await this.repository.append(manager, event);
    this.pokeAfterCommit(manager);
  }

  /** Writes a message to send (an ITK3 business acknowledgement) inside the caller's transaction. */
  async appendMessage(manager: EntityManager, message: OutboundMessage): Promise<void> {
    await this.messages.append(manager, message);
    this.pokeAfterCommit(manager);
  }

  private pokeAfterCommit(manager: EntityManager): void {
    if (manager.queryRunner?.isTransactionActive) {
      this.pending.add(manager.queryRunner);
    } else {
      this.poke();
    }
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // TypeORM broadcasts this for a released savepoint too (a group commit's unit): wait for the real commit
    if (event.queryRunner.isTransactionActive) {
      return;
    }
    if (this.pending.has(event.queryRunner)) {
      this.pending.delete(event.queryRunner);
      this.poke();
    }
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    this.pending.delete(event.queryRunner);
  }

  /** Registers a callback run right after a commit that appended events (the relay in this process). */
  onCommitted(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells local listeners that events are waiting. */
  poke(): void {
    // outside the committing transaction's async context: a listener that opens a transaction must queue behind the
    // next one, not nest into a transaction that has just ended (on SQLite they share one connection)
    this.detached(() => {
      for (const listener of this.listeners) {
        listener();
      }
    });
  }
}
