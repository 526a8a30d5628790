import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { Global, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CommanderError } from 'commander';
import { pino } from 'pino';
import { createAppLogger, PinoNestLogger } from '../src/common/app-logger.js';
import { FhirError } from '../src/common/fhir-error.js';
import type { AppConfig } from '../src/config/app-config.js';
import { ConfigError } from '../src/config/app-config.js';
import { ConfigModule } from '../src/config/config.module.js';
import { DatabaseModule } from '../src/database/database.module.js';
import { Metrics } from '../src/health/metrics.service.js';
import { NOTIFICATION_ENTITIES } from '../src/notifications/entities.js';
import { NotificationOutboxRepository } from '../src/notifications/notification-outbox.repository.js';
import { NotificationOutbox } from '../src/notifications/notification-outbox.service.js';
import { OutboundMessageRepository } from '../src/notifications/outbound-message.repository.js';
import { DocumentEventLog } from '../src/registry/document-events.js';
import { RegistryModule } from '../src/registry/registry.module.js';
import { StoredTotals } from '../src/registry/stored-totals.js';
import { StorageModule } from '../src/storage/storage.module.js';

/** Exit codes of the operations commands. */
export const EXIT = { ok: 0, refused: 1, usage: 2 } as const;

export type Env = Readonly<Record<string, string | undefined>>;

/** Where a command writes: results to stdout, refusals and problems to stderr (tests pass their own). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

type CommandMain = (argv: readonly string[], env: Env, output: Output) => Promise<number>;

/**
 * Runs a command's `main` when its module is the process's entry point (not when a test imports it): the exit code
 * is main's, or the one `failure` gives its error, with the message on stderr.
 */
export function runWhenEntryPoint(moduleUrl: string, main: CommandMain): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) {
    return;
  }
  const output: Output = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  main(process.argv.slice(2), process.env, output).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const { code, message } = failure(error);
      if (message) {
        output.err(message);
      }
      process.exitCode = code;
    },
  );
}

/**
 * What the registry's writer needs besides the registry itself, without the server's HTTP, queue or delivery parts:
 * the outbox (a withdrawal notifies subscribers through the worker, as any change does) and the metrics it counts in.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature(NOTIFICATION_ENTITIES)],
  providers: [
    Metrics,
    NotificationOutboxRepository,
    OutboundMessageRepository,
    NotificationOutbox,
    { provide: DocumentEventLog, useExisting: NotificationOutbox },
    { provide: StoredTotals, useExisting: Metrics },
  ],
  exports: [Metrics, StoredTotals, DocumentEventLog],
})
class OperationsSupportModule {}

@Module({})
class OperationsModule {}

/**
 * The registry core (database, blob store, writer, audit) for an administrative command, on the configuration the
 * server runs with (the same DATABASE_URL, BLOB_STORE, BASE_URL and audit key). Logs go to stderr as JSON lines.
 */
export async function createOperationsContext(config: AppConfig): Promise<INestApplicationContext> {
  // start-up chatter (modules loaded, chain sealed) is not what an operator ran the command for
  const logger = createAppLogger(config.logLevel === 'debug' ? 'debug' : 'warn', pino.destination(2));
  return NestFactory.createApplicationContext(
    {
      module: OperationsModule,
      // neither an API (no start-up totals for the metrics) nor a worker (no relay or delivery in a command)
      imports: [
        // never invent an audit key: a command writes into the server's chain, with the server's key or not at all
        ConfigModule.forRoot({ ...config, appRoles: [], audit: { ...config.audit, generateHmacKey: false } }),
        DatabaseModule,
        StorageModule,
        OperationsSupportModule,
        RegistryModule,
      ],
    },
    { logger: new PinoNestLogger(logger), abortOnError: false },
  );
}

/** An error as the exit code and message an operator sees: usage mistakes 2, refusals and failures 1. */
export function failure(error: unknown): { code: number; message: string } {
  if (error instanceof CommanderError) {
    return { code: error.exitCode === 0 ? EXIT.ok : EXIT.usage, message: '' };
  }
  if (error instanceof ConfigError) {
    return { code: EXIT.refused, message: error.message };
  }
  if (error instanceof RangeError) {
    return { code: EXIT.usage, message: error.message };
  }
  if (error instanceof FhirError) {
    return { code: error.status === 400 ? EXIT.usage : EXIT.refused, message: `${error.status}: ${error.message}` };
  }
  return { code: EXIT.refused, message: error instanceof Error ? error.message : String(error) };
}
