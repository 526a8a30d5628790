import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ODS_ORGANIZATION_SYSTEM } from '../registry/nhs-number.js';
import { type CredentialOptions, organizationOf, tokenSource } from './credentials.js';
import { CliError, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, failure, usageError } from './errors.js';
import { findFiles } from './files.js';
import { FhirClient, header } from './http.js';
import { BinaryLedger, defaultLedgerPath } from './ledger.js';
import { issueLocalToken } from './local-token.js';
import { refusalReason } from './outcome.js';
import { parseNhsNumber, readSearchPage, SEARCH_COLUMNS, searchPath } from './search.js';
import { loadClientKey, requestSmartToken } from './smart-token.js';
import { mapConcurrently, type SubmitResult, submitFile } from './submit.js';
import { formatTable, printable } from './text.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the command line reads its settings and writes its output (the process's own, or a test's). */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Env;
  /** Called by a long-running command (receive): resolves when the user asks it to stop. */
  interrupted?: () => Promise<void>;
}

interface GlobalOptions extends CredentialOptions {
  baseUrl: string;
  quiet?: boolean;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080/fhir';
const WEBHOOK_SECRET_URL = 'urn:fhir-document-registry:webhook-secret';

// The least each command needs, for tokens this tool asks for (--scope overrides).
const SCOPES = {
  token: 'system/*.cruds',
  submit: 'system/Bundle.c system/Binary.cr',
  search: 'system/DocumentReference.rs',
  get: 'system/Bundle.r system/Binary.r system/DocumentReference.r',
  subscribe: 'system/Subscription.cruds system/DocumentReference.rs',
  withdraw: 'system/DocumentReference.ru',
};

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(raw);
  };
}

function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`FHIR_BASE_URL / --base-url is not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`FHIR_BASE_URL / --base-url must be http or https: ${raw}`);
  }
  return url.href.replace(/\/+$/, '');
}

const line = (stream: Writable, text: string) => stream.write(`${text}\n`);

/** A progress bar on stderr with rate and ETA; only for a person watching (both streams a terminal, not --quiet). */
async function progressBar(io: CliIo, quiet: boolean | undefined, total: number) {
  if (quiet || !io.stdout.isTTY || !io.stderr.isTTY || total === 0) {
    return { tick: (_bytes: number) => undefined, stop: () => undefined };
  }
  // loaded only when drawn: every command's start-up pays for what it imports
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      format: '{bar} {percentage}% | {value}/{total} files | {rate} files/s, {throughput} MB/s | ETA {eta_formatted}',
      stream: io.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  let bytes = 0;
  bar.start(total, 0, { rate: '0.0', throughput: '0.0' });
  return {
    tick: (size: number) => {
      done += 1;
      bytes += size;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      bar.increment(1, {
        rate: (done / seconds).toFixed(1),
        throughput: (bytes / 1e6 / seconds).toFixed(1),
      });
    },
    stop: () => bar.stop(),
  };
}

function summaryLine(results: readonly SubmitResult[], skipped: number): string {
  const count = (outcome: SubmitResult['outcome']) => results.filter((r) => r.outcome === outcome).length;
  const parts = [
    `${count('stored')} stored`,
    `${count('already stored')} already stored`,
    `${count('refused')} refused`,
  ];
  return `${parts.join(', ')}${skipped > 0 ? ` (${skipped} skipped in folders: hidden or of an unknown type)` : ''}`;
}

async function withClient<T>(
  globals: GlobalOptions,
  scope: string,
  io: CliIo,
  work: (client: FhirClient) => Promise<T>,
  connections = 4,
): Promise<T> {
  const tokens = tokenSource(globals, scope, globals.baseUrl, io.env);
  // credentials that do not work stop the command before anything is sent
  await tokens.token();
  const client = new FhirClient(globals.baseUrl, tokens, connections);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** "Bundle/x", "Binary/x", "DocumentReference/x" or a bare id (a Bundle, or a Binary with --binary). */
function parseReference(raw: string, binary: boolean): { type: 'Bundle' | 'Binary' | 'DocumentReference'; id: string } {
  const match = /^(?:(Bundle|Binary|DocumentReference)\/)?([A-Za-z0-9\-.]{1,64})$/.exec(raw.trim());
  if (!match) {
    throw usageError(`"${raw}" is not an id (or Bundle/ID, Binary/ID, DocumentReference/ID)`);
  }
  const type = (match[1] as 'Bundle' | 'Binary' | 'DocumentReference' | undefined) ?? (binary ? 'Binary' : 'Bundle');
  return { type, id: match[2] };
}

/** Builds the `fhir-registry` program; `exitCode` holds what the action decided. */
function buildProgram(io: CliIo, state: { exitCode: number }): Command {
  const program = new Command('fhir-registry')
    .description(
      'Command line for the FHIR document registry: submit documents, find them, fetch them, subscribe and receive notifications.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(run with --help for usage)')
    .addOption(
      new Option('--base-url <url>', 'FHIR base URL of the server').env('FHIR_BASE_URL').default(DEFAULT_BASE_URL),
    )
    .option('--org <ods>', "get a token from the server's local key for this ODS code (needs the server's DATA_DIR)")
    .option('--client-id <id>', 'SMART Backend Services client id (with --key; env FHIR_CLIENT_ID)')
    .option('--key <file>', 'private key of the client: JWK or PEM (with --client-id; env FHIR_CLIENT_KEY)')
    .option('--scope <scopes>', "scopes to ask for instead of the command's own")
    .option('-q, --quiet', 'no progress bar, no remarks on stderr')
    .addHelpText(
      'after',
      `
Credentials, first match wins: --client-id with --key, --org, then the FHIR_TOKEN environment variable.
Exit codes: 0 done, 1 refused or failed, 2 usage error.`,
    );
  const globals = (command: Command): GlobalOptions => {
    const options = command.optsWithGlobals<GlobalOptions>();
    return { ...options, baseUrl: baseUrl(options.baseUrl) };
  };
  const remark = (command: Command, text: string) => {
    if (!globals(command).quiet) {
      line(io.stderr, text);
    }
  };

  program
    .command('token')
    .description("print an access token: from the server's local key (--org), or from the SMART token endpoint")
    .addOption(
      new Option('--ttl <seconds>', 'lifetime of a local token').argParser(integer(1, 30 * 24 * 3600)).default(3600),
    )
    .option('--sub <name>', 'subject of a local token')
    .action(async (options: { ttl: number; sub?: string }, command: Command) => {
      const g = globals(command);
      const scope = g.scope?.trim() || SCOPES.token;
      let token: string;
      const clientId = g.clientId ?? (g.org ? undefined : io.env.FHIR_CLIENT_ID);
      const keyFile = g.key ?? (g.org ? undefined : io.env.FHIR_CLIENT_KEY);
      if (g.clientId || g.key || (clientId && keyFile)) {
        if (!clientId || !keyFile) {
          throw usageError('--client-id and --key go together');
        }
        const key = await loadClientKey(keyFile);
        token = (await requestSmartToken({ fhirBase: g.baseUrl, clientId, key, scope })).accessToken;
      } else {
        token = await issueLocalToken({ org: g.org, scope, sub: options.sub, ttlSeconds: options.ttl }, io.env);
      }
      line(io.stdout, token);
    });

  program
    .command('submit')
    .description(
      'submit files and folders: FHIR document Bundles (.json, .xml; R4 or STU3) and Binaries (.pdf, .png, .jpg, .txt...)',
    )
    .argument('<paths...>', 'files and folders (searched recursively)')
    .addOption(new Option('--concurrency <n>', 'requests at once').argParser(integer(1, 64)).default(4))
    .option('--ledger <file>', 'where stored Binaries are remembered, so a re-run does not send them again')
    .action(async (paths: string[], options: { concurrency: number; ledger?: string }, command: Command) => {
      const g = globals(command);
      let found;
      try {
        found = await findFiles(paths);
      } catch (error) {
        throw usageError(`Cannot read ${(error as { path?: string }).path ?? 'a path'}: ${(error as Error).message}`);
      }
      if (found.files.length === 0) {
        remark(command, `Nothing to submit (${found.skipped.length} files skipped: hidden or of an unknown type)`);
        return;
      }
      const ledger = await BinaryLedger.open(options.ledger ?? defaultLedgerPath(io.env));
      const results = await withClient(
        g,
        SCOPES.submit,
        io,
        async (client) => {
          const progress = await progressBar(io, g.quiet, found.files.length);
          try {
            return await mapConcurrently(found.files, options.concurrency, async (file) => {
              const result = await submitFile({ client, ledger }, file);
              progress.tick(result.bytes);
              return result;
            });
          } finally {
            progress.stop();
          }
        },
        options.concurrency,
      );
      io.stdout.write(
        formatTable(
          ['RESULT', 'FILE', 'ID / REASON'],
          results.map((r) => [r.outcome, r.file, r.detail]),
        ),
      );
      const warned = results.filter((r) => r.warnings.length > 0);
      for (const result of warned) {
        for (const warning of result.warnings) {
          line(io.stdout, `warning: ${printable(result.file)}: ${warning}`);
        }
      }
      line(io.stdout, summaryLine(results, found.skipped.length));
      state.exitCode = results.some((r) => r.outcome === 'refused') ? EXIT_REFUSED : EXIT_OK;
    });

  program
    .command('search')
    .description("list a patient's documents as a table")
    .requiredOption('--nhs <number>', 'NHS number (checked with modulus 11 before asking)')
    .addOption(new Option('--limit <n>', 'at most this many rows').argParser(integer(1, 100_000)).default(50))
    .option('--all', 'follow every page')
    .addOption(
      new Option('--status <status>', 'only documents with this status').choices([
        'current',
        'superseded',
        'entered-in-error',
      ]),
    )
    .action(async (options: { nhs: string; limit: number; all?: boolean; status?: string }, command: Command) => {
      const g = globals(command);
      const nhs = parseNhsNumber(options.nhs);
      const limit = options.all ? Number.POSITIVE_INFINITY : options.limit;
      await withClient(g, SCOPES.search, io, async (client) => {
        const rows: string[][] = [];
        let next: string | undefined = searchPath(nhs, Math.min(limit, 100), options.status);
        let total: number | undefined;
        while (next && rows.length < limit) {
          const response = await client.sendText('GET', next, {
            headers: { accept: 'application/fhir+json' },
            idempotent: true,
          });
          if (response.status !== 200) {
            throw failure(`The search was refused: ${refusalReason(response.status, response.text)}`);
          }
          let page;
          try {
            page = readSearchPage(JSON.parse(response.text), client.base);
          } catch {
            throw failure('The server answered the search with something that is not JSON');
          }
          for (const note of page.notes) {
            remark(command, `note: ${printable(note)}`);
          }
          total ??= page.total;
          rows.push(...page.rows);
          next = page.next;
        }
        const shown = rows.slice(0, limit);
        io.stdout.write(formatTable(SEARCH_COLUMNS, shown));
        const more = rows.length > shown.length || next !== undefined;
        line(
          io.stdout,
          `${shown.length} document${shown.length === 1 ? '' : 's'}${total !== undefined ? ` of ${total}` : ''}` +
            (more ? ' (more: --all, or a larger --limit)' : ''),
        );
      });
    });

  program
    .command('get')
    .description('fetch a stored document (Bundle) or Binary: the exact bytes, to stdout or a file')
    .argument('<id>', 'Bundle id, or Bundle/ID, Binary/ID, DocumentReference/ID (its content)')
    .option('--binary', 'a bare id names a Binary')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .action(async (raw: string, options: { binary?: boolean; out?: string }, command: Command) => {
      const g = globals(command);
      const reference = parseReference(raw, options.binary === true);
      if (!options.out && io.stdout.isTTY && reference.type !== 'Bundle') {
        throw usageError('Not writing bytes to a terminal: give --out FILE or redirect stdout');
      }
      await withClient(g, SCOPES.get, io, async (client) => {
        let target = `${reference.type}/${encodeURIComponent(reference.id)}`;
        if (reference.type === 'DocumentReference') {
          const index = await client.sendText('GET', target, {
            headers: { accept: 'application/fhir+json' },
            idempotent: true,
          });
          if (index.status !== 200) {
            throw failure(`${target}: ${refusalReason(index.status, index.text)}`);
          }
          const url = (JSON.parse(index.text) as { content?: { attachment?: { url?: unknown } }[] }).content?.[0]
            ?.attachment?.url;
          if (typeof url !== 'string') {
            throw failure(`${target} names no content URL`);
          }
          target = url;
        }
        const response = await client.send('GET', target, { headers: { accept: '*/*' }, idempotent: true });
        if (response.status !== 200) {
          throw failure(`${printable(target)}: ${refusalReason(response.status, await response.body.text())}`);
        }
        const expected = /^"([0-9a-f]{64})"$/.exec(header(response, 'etag') ?? '')?.[1];
        const hash = createHash('sha256');
        let size = 0;
        const tap = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        const partial = options.out ? `${options.out}.${process.pid}.part` : undefined;
        try {
          await pipeline(response.body, tap, partial ? createWriteStream(partial, { mode: 0o600 }) : io.stdout, {
            end: partial !== undefined,
          });
          // the strong ETag is the SHA-256 of the stored bytes: what arrived must be exactly that
          if (expected && hash.digest('hex') !== expected) {
            throw failure(`${printable(target)}: the bytes received do not match the server's SHA-256 (ETag)`);
          }
          if (partial && options.out) {
            await rename(partial, options.out);
          }
        } catch (error) {
          if (partial) {
            await rm(partial, { force: true });
          }
          throw error;
        }
        remark(
          command,
          `${size} bytes (${printable(header(response, 'content-type'))})${options.out ? ` written to ${options.out}` : ''}`,
        );
      });
    });

  program
    .command('subscribe')
    .description('subscribe an endpoint to documents addressed to an organisation; prints the signing secret once')
    .requiredOption('--endpoint <url>', 'where notifications go (https and public, unless the server allows otherwise)')
    .option('--ods <code>', "the recipient organisation (default: --org or the token's organization)")
    .option(
      '--criteria <query>',
      'a search instead of "documents addressed to --ods", e.g. DocumentReference?custodian.identifier=...',
    )
    .option('--no-payload', 'empty notifications (a nudge to search) instead of the DocumentReference')
    .option('--reason <text>', 'why the subscription exists', 'Documents addressed to us')
    .action(
      async (
        options: { endpoint: string; ods?: string; criteria?: string; payload: boolean; reason: string },
        command: Command,
      ) => {
        const g = globals(command);
        try {
          new URL(options.endpoint);
        } catch {
          throw usageError(`--endpoint is not a URL: ${options.endpoint}`);
        }
        await withClient(g, SCOPES.subscribe, io, async (client) => {
          let criteria = options.criteria;
          if (!criteria) {
            const ods = options.ods ?? g.org ?? (g.clientId ? undefined : organizationOf(io.env.FHIR_TOKEN ?? ''));
            if (!ods) {
              throw usageError('Say whose documents: --ods CODE (or --criteria)');
            }
            criteria = `DocumentReference?recipient=${ODS_ORGANIZATION_SYSTEM}|${ods}`;
          }
          const subscription = {
            resourceType: 'Subscription',
            status: 'requested',
            reason: options.reason,
            criteria,
            channel: {
              type: 'rest-hook',
              endpoint: options.endpoint,
              ...(options.payload ? { payload: 'application/fhir+json' } : {}),
            },
          };
          const response = await client.sendText('POST', 'Subscription', {
            headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
            body: () => JSON.stringify(subscription),
          });
          if (response.status !== 201) {
            throw failure(`The subscription was refused: ${refusalReason(response.status, response.text)}`);
          }
          const created = JSON.parse(response.text) as {
            id?: string;
            status?: string;
            extension?: { url?: string; valueString?: string }[];
          };
          const secret = created.extension?.find((e) => e.url === WEBHOOK_SECRET_URL)?.valueString;
          line(io.stdout, `Subscription/${printable(created.id)} ${printable(created.status)}`);
          line(io.stdout, `criteria: ${printable(criteria)}`);
          line(io.stdout, `endpoint: ${printable(options.endpoint)}`);
          line(io.stdout, `secret: ${printable(secret ?? '(none returned)')}`);
          remark(command, 'The secret is shown only this once: keep it safe (receive --secret needs it).');
        });
      },
    );

  program
    .command('receive')
    .description('run a webhook receiver that verifies each signature and prints each notification')
    .addOption(
      new Option('--port <n>', 'port to listen on (0: any free port)').argParser(integer(0, 65535)).default(9000),
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--secret <whsec>', 'the secret subscribe printed').env('FHIR_WEBHOOK_SECRET'))
    .addOption(
      new Option('--count <n>', 'stop after this many verified notifications').argParser(integer(1, 1_000_000)),
    )
    .action(async (options: { port: number; host: string; secret?: string; count?: number }, command: Command) => {
      if (!options.secret) {
        throw usageError('--secret (or FHIR_WEBHOOK_SECRET) is required: the whsec_... value subscribe printed');
      }
      let received = 0;
      let finish: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const { startReceiver } = await import('./receive.js');
      const receiver = await startReceiver({
        host: options.host,
        port: options.port,
        secret: options.secret,
        onNotification: (n) => {
          line(
            io.stdout,
            `${new Date().toISOString()} ${n.method} ${n.path} webhook-id=${n.webhookId} ${n.about}${n.repeat ? ' (repeat)' : ''}`,
          );
          received += 1;
          if (options.count !== undefined && received >= options.count) {
            finish();
          }
        },
        onRefused: (method, path, reason) =>
          line(io.stderr, `${new Date().toISOString()} refused ${method} ${path}: ${reason}`),
      });
      remark(command, `Listening on ${receiver.url}; verifying Standard Webhooks signatures (Ctrl-C stops)`);
      await Promise.race([done, io.interrupted?.() ?? new Promise<never>(() => undefined)]);
      await receiver.close();
    });

  program
    .command('withdraw')
    .description('withdraw a document: its DocumentReference becomes entered-in-error (the bytes are kept)')
    .argument('<id>', 'DocumentReference id (or DocumentReference/ID)')
    .action(async (raw: string, _options: unknown, command: Command) => {
      const g = globals(command);
      const id = raw.trim().replace(/^DocumentReference\//, '');
      if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
        throw usageError(`"${raw}" is not a DocumentReference id`);
      }
      await withClient(g, SCOPES.withdraw, io, async (client) => {
        const path = `DocumentReference/${id}`;
        const current = await client.sendText('GET', path, {
          headers: { accept: 'application/fhir+json' },
          idempotent: true,
        });
        if (current.status !== 200) {
          throw failure(`${path}: ${refusalReason(current.status, current.text)}`);
        }
        const resource = JSON.parse(current.text) as { status?: string; meta?: { versionId?: string } };
        if (resource.status === 'entered-in-error') {
          line(io.stdout, `${path} was already withdrawn (version ${printable(resource.meta?.versionId)})`);
          return;
        }
        const patched = await client.sendText('PATCH', path, {
          headers: {
            'content-type': 'application/json-patch+json',
            accept: 'application/fhir+json',
            // withdraw the version just read, not one that changed meanwhile
            ...(resource.meta?.versionId ? { 'if-match': `W/"${resource.meta.versionId}"` } : {}),
          },
          body: () => JSON.stringify([{ op: 'replace', path: '/status', value: 'entered-in-error' }]),
        });
        if (patched.status !== 200) {
          throw failure(`${path} was not withdrawn: ${refusalReason(patched.status, patched.text)}`);
        }
        const after = JSON.parse(patched.text) as { status?: string; meta?: { versionId?: string } };
        line(io.stdout, `${path} withdrawn: ${printable(after.status)} (version ${printable(after.meta?.versionId)})`);
      });
    });

  return program;
}

/** Runs the command line over `argv` (the words after the program name); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const state = { exitCode: EXIT_OK };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with 0; anything else commander rejects is a usage error
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      line(io.stderr, error.message);
      return error.exitCode;
    }
    line(io.stderr, `Unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return EXIT_REFUSED;
  }
}
