import 'reflect-metadata';
import { Command, Option } from 'commander';
import { operatorActor } from '../src/audit/actor.js';
import { loadConfig } from '../src/config/app-config.js';
import { DEFAULT_SWEEP_AGE_MS, parseAge, sweepSummary } from '../src/registry/blob-sweep.js';
import { BlobSweepService } from '../src/registry/blob-sweep.service.js';
import { createOperationsContext, type Env, EXIT, type Output, runWhenEntryPoint } from './operations-context.js';

function program(output: Output): Command {
  return new Command('blobs:sweep')
    .description(
      'Removes blobs that no document or Binary row references (writes that failed or lost a race after storing ' +
        'their bytes, purges a crash interrupted) and that were written before --older-than. A dry run unless --apply.',
    )
    .option('--apply', 'remove the orphans (without it, only list them)', false)
    .addOption(
      new Option('--older-than <age>', 'only blobs last written longer ago than this: 90m, 24h, 7d (at least 1h)')
        .default(DEFAULT_SWEEP_AGE_MS, '24h')
        .argParser(parseAge),
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s.trimEnd()), writeErr: (s) => output.err(s.trimEnd()) })
    .allowExcessArguments(false);
}

/** Runs one sweep as the command line asks; returns the exit code. */
export async function main(argv: readonly string[], env: Env, output: Output): Promise<number> {
  const command = program(output);
  command.parse([...argv], { from: 'user' });
  const options = command.opts<{ apply: boolean; olderThan: number }>();
  const config = loadConfig(env);
  const context = await createOperationsContext(config);
  try {
    const report = await context.get(BlobSweepService).sweep({
      olderThanMs: options.olderThan,
      apply: options.apply,
      actor: operatorActor('npm run blobs:sweep'),
      onOrphan: (blob, outcome) => {
        const verb = { listed: 'would remove', removed: 'removed', failed: 'could not remove' }[outcome];
        output.out(`${verb}\t${blob.key}\t${blob.size} bytes\t${blob.lastModified.toISOString()}`);
      },
    });
    output.out(sweepSummary(report));
    return report.failed > 0 ? EXIT.refused : EXIT.ok;
  } finally {
    await context.close();
  }
}

runWhenEntryPoint(import.meta.url, main);
