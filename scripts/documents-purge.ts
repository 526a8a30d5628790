import 'reflect-metadata';
import { Command } from 'commander';
import { operatorActor } from '../src/audit/actor.js';
import { AuditService } from '../src/audit/audit.service.js';
import { loadConfig } from '../src/config/app-config.js';
import { purgeReason } from '../src/registry/document-lifecycle.js';
import { DocumentPurgeService } from '../src/registry/document-purge.service.js';
import { createOperationsContext, type Env, EXIT, type Output, runWhenEntryPoint } from './operations-context.js';

function program(output: Output): Command {
  return new Command('documents:purge')
    .description(
      'Legal erasure: removes the bytes of a document (its Bundle and the Binaries it points at) for good. The ' +
        'DocumentReference stays, entered-in-error, with the reason; reading the bytes answers 410 Gone. Audited.',
    )
    .argument('<id>', 'the DocumentReference id')
    .requiredOption('--reason <text>', 'why (the legal ground, e.g. a court order or ticket reference); recorded')
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s.trimEnd()), writeErr: (s) => output.err(s.trimEnd()) })
    .allowExcessArguments(false);
}

/** Purges one document as the command line asks; returns the exit code. */
export async function main(argv: readonly string[], env: Env, output: Output): Promise<number> {
  const command = program(output);
  command.parse([...argv], { from: 'user' });
  const [id] = command.processedArgs as [string];
  // checked before the database is opened, so a blank reason costs nothing
  const reason = purgeReason(command.opts<{ reason: string }>().reason);
  const config = loadConfig(env);
  const context = await createOperationsContext(config);
  try {
    const actor = operatorActor('npm run documents:purge');
    const result = await context
      .get(DocumentPurgeService)
      .purge(id, reason, actor)
      .catch(async (error: unknown) => {
        // a refused purge is audited too (a successful one is, with its rows, in the writer's transaction)
        await context.get(AuditService).record({
          actor,
          action: 'D',
          subtype: 'purge',
          outcome: '4',
          outcomeDescription: error instanceof Error ? error.message : String(error),
          entities: [{ reference: `DocumentReference/${id.slice(0, 64)}`, role: 'resource' }],
          reason,
        });
        throw error;
      });
    const removed = result.released.filter((r) => !result.leftBehind.some((l) => l.key === r.key));
    output.out(
      `${result.changed ? 'purged' : 'already purged'} DocumentReference/${id}: ${result.documentReference.status}, ` +
        `version ${result.documentReference.meta.versionId}`,
    );
    for (const blob of removed) {
      output.out(`removed\t${blob.reference}\t${blob.size} bytes`);
    }
    for (const blob of result.leftBehind) {
      output.err(
        `not removed\t${blob.reference}\t${blob.reason} (its row says purged: run this again, or blobs:sweep removes it)`,
      );
    }
    if (result.released.length === 0) {
      output.out('no stored bytes: the DocumentReference points at nothing held here');
    }
    return result.leftBehind.length > 0 ? EXIT.refused : EXIT.ok;
  } finally {
    await context.close();
  }
}

runWhenEntryPoint(import.meta.url, main);
