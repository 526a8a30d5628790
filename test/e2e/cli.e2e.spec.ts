import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { aStu3DischargeXml } from '../fixtures/stu3-document.js';
import { json } from '../utils/http.js';
import { freePort } from '../utils/free-port.js';
import { ensureBuilt } from '../utils/server-process.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'scripts', 'cli.js');

// A small but real PDF (one empty page), so the Binary is what a trust would attach.
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** A random GP practice code, so each backend's subscription sees only its own documents. */
const aGpCode = () => `Y${String(Math.floor(Math.random() * 100_000)).padStart(5, '0')}`;

describe.each(BACKENDS)('command line on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let work: { path: string; remove(): Promise<void> };
  let env: Record<string, string>;
  const nhsNumber = aNhsNumber();
  const gp = aGpCode();
  const r4 = Buffer.from(
    JSON.stringify(
      aDischargeSummaryR4({
        identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
        nhsNumber,
        gpOds: gp,
      }),
      null,
      2,
    ),
  );
  const stu3 = Buffer.from(aStu3DischargeXml({ identifier: randomUUID(), nhsNumber, gpOds: gp }));
  // what the first submit stored, for the later tests
  const stored: Record<string, string> = {};

  const children = new Set<ChildProcess>();

  /** Runs the compiled CLI as a person would, against the test server. */
  function start(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: work.path, env: { ...env, ...extraEnv } });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  }

  /** Runs the CLI and resolves with what it printed when it exits. */
  function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    return collect(start(args, extraEnv));
  }

  function collect(child: ChildProcess): Promise<Run> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        const stdoutBytes = Buffer.concat(out);
        resolve({
          code,
          stdout: stdoutBytes.toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          stdoutBytes,
        });
      });
    });
  }

  /** The table row of one file: [result, id / reason]. */
  function row(run: Run, file: string): { result: string; detail: string } {
    const found = run.stdout
      .split('\n')
      .map((line) => /^(stored|already stored|refused)\s+(\S+)\s+(.*)$/.exec(line))
      .find((match) => match && path.basename(match[2]) === file);
    if (!found) {
      throw new Error(`no row for ${file} in:\n${run.stdout}\n${run.stderr}`);
    }
    return { result: found[1], detail: found[3] };
  }

  beforeAll(async () => {
    ensureBuilt();
    t = await startTestApp(database, blobStore, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '100',
      DELIVERY_BACKOFF_BASE_MS: '50',
    });
    work = await makeTempDir('cli-e2e');
    // jest's --experimental-vm-modules is not meant for the CLI; HOME and XDG_STATE_HOME keep its ledger here
    const { NODE_OPTIONS: _ignored, FHIR_TOKEN: _token, ...inherited } = process.env as Record<string, string>;
    env = {
      ...inherited,
      FHIR_BASE_URL: t.fhirUrl,
      DATA_DIR: t.config.dataDir,
      HOME: work.path,
      XDG_STATE_HOME: path.join(work.path, 'state'),
    };
    await mkdir(path.join(work.path, 'docs', 'good', 'letters'), { recursive: true });
    await mkdir(path.join(work.path, 'docs', 'bad'), { recursive: true });
    await writeFile(path.join(work.path, 'docs', 'good', 'discharge-r4.json'), r4);
    await writeFile(path.join(work.path, 'docs', 'good', 'discharge-stu3.xml'), stu3);
    await writeFile(path.join(work.path, 'docs', 'good', 'letters', 'letter.pdf'), PDF);
    await writeFile(path.join(work.path, 'docs', 'good', '.DS_Store'), 'not a document');
    await writeFile(path.join(work.path, 'docs', 'bad', 'broken.json'), '{"resourceType": "Bundle", "type": ');
    const withoutIdentifier = aDischargeSummaryR4({ nhsNumber }) as Record<string, unknown>;
    delete withoutIdentifier.identifier;
    await writeFile(path.join(work.path, 'docs', 'bad', 'no-identifier.json'), JSON.stringify(withoutIdentifier));
  }, 240_000);

  afterEach(() => {
    // a receiver still waiting when a test failed
    for (const child of children) {
      child.kill('SIGKILL');
    }
  });

  afterAll(async () => {
    await t?.close();
    await work?.remove();
  });

  it('submits a folder: R4 JSON and STU3 XML documents and a PDF stored, a broken file and an invalid document refused with their reasons, exit 1', async () => {
    const run = await cli(['--org', 'RTG', 'submit', '--concurrency', '3', 'docs']);
    expect(run.code).toBe(1);
    const jsonFile = row(run, 'discharge-r4.json');
    const xml = row(run, 'discharge-stu3.xml');
    const pdf = row(run, 'letter.pdf');
    expect([jsonFile.result, xml.result, pdf.result]).toEqual(['stored', 'stored', 'stored']);
    expect(jsonFile.detail).toMatch(/^Bundle\/[0-9a-f-]{36} DocumentReference\/[0-9a-f-]{36}$/);
    expect(pdf.detail).toMatch(/^Binary\/[0-9a-f-]{36}$/);
    expect(row(run, 'broken.json')).toEqual({
      result: 'refused',
      detail: expect.stringMatching(/^not sent: not valid JSON/),
    });
    // the server's reason, from its OperationOutcome
    expect(row(run, 'no-identifier.json')).toEqual({
      result: 'refused',
      detail: expect.stringMatching(/^422 .*bdl-9/),
    });
    expect(run.stdout).toContain('3 stored, 0 already stored, 2 refused (1 skipped in folders');
    // no progress bar when the output is not a terminal
    expect(run.stderr).not.toMatch(/ETA/);

    [, stored.r4Bundle, stored.r4Reference] = /^Bundle\/(\S+) DocumentReference\/(\S+)$/.exec(jsonFile.detail)!;
    [, stored.stu3Bundle, stored.stu3Reference] = /^Bundle\/(\S+) DocumentReference\/(\S+)$/.exec(xml.detail)!;
    stored.binary = pdf.detail.slice('Binary/'.length);
    const index = await json(await t.fetch(`/fhir/DocumentReference/${stored.stu3Reference}`));
    expect(index.content[0].attachment.contentType).toBe('application/fhir+xml');
    // read as STU3: its category comes from Composition.class, which R4 does not have
    expect(index.category[0].coding[0].code).toBe('371531000');
  });

  it('re-runs safely: the same files are all already stored under the same ids, exit 0', async () => {
    const run = await cli(['--org', 'RTG', 'submit', 'docs/good']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(row(run, 'discharge-r4.json')).toEqual({
      result: 'already stored',
      detail: `Bundle/${stored.r4Bundle} DocumentReference/${stored.r4Reference}`,
    });
    expect(row(run, 'discharge-stu3.xml').result).toBe('already stored');
    expect(row(run, 'letter.pdf')).toEqual({ result: 'already stored', detail: `Binary/${stored.binary}` });
    expect(run.stdout).toContain('0 stored, 3 already stored, 0 refused');
  });

  it("lists the patient's documents as a table, following pages", async () => {
    const run = await cli([
      '--org',
      'RTG',
      'search',
      '--nhs',
      `${nhsNumber.slice(0, 3)} ${nhsNumber.slice(3, 6)} ${nhsNumber.slice(6)}`,
    ]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual(['DATE', 'TYPE', 'STATUS', 'CUSTODIAN', 'ID', 'CONTENT']);
    const rows = lines.slice(2, -1).map((line) => line.split(/\s{2,}/));
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        [
          '2024-03-08T16:20:00+00:00',
          'Discharge summary',
          'current',
          'RTG',
          stored.r4Reference,
          `Bundle/${stored.r4Bundle}`,
        ],
        [
          '2018-06-14T10:30:00+01:00',
          'Discharge summary',
          'current',
          'RTG',
          stored.stu3Reference,
          `Bundle/${stored.stu3Bundle}`,
        ],
      ]),
    );
    expect(lines.at(-1)).toBe('2 documents of 2');

    const paged = await cli(['--org', 'RTG', 'search', '--nhs', nhsNumber, '--limit', '1']);
    expect(paged.code).toBe(0);
    expect(paged.stdout).toMatch(/\n1 document of 2 \(more: --all, or a larger --limit\)\n$/);
  });

  it("gets the exact bytes: a Bundle to a file, a Binary to stdout, a DocumentReference's content", async () => {
    const out = path.join(work.path, 'fetched.json');
    const bundle = await cli(['--org', 'RTG', 'get', stored.r4Bundle, '--out', out]);
    expect(bundle.code).toBe(0);
    expect((await readFile(out)).equals(r4)).toBe(true);

    const binary = await cli(['--org', 'RTG', 'get', '--binary', stored.binary]);
    expect(binary.code).toBe(0);
    expect(binary.stdoutBytes.equals(PDF)).toBe(true);

    const content = await cli(['--org', 'RTG', 'get', `DocumentReference/${stored.stu3Reference}`]);
    expect(content.code).toBe(0);
    expect(content.stdoutBytes.equals(stu3)).toBe(true);

    const missing = await cli(['--org', 'RTG', 'get', randomUUID(), '--out', path.join(work.path, 'missing')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404 not-found/);
    await expect(readFile(path.join(work.path, 'missing'))).rejects.toThrow(/ENOENT/);
  });

  it('subscribes as the GP (secret printed once) and receives a verified notification; a forged one is refused with 401', async () => {
    const port = await freePort();
    // FHIR_TOKEN, with the GP's ODS code read from its organization claim
    const gpToken = await t.token({ org: gp, scope: 'system/Subscription.cruds system/DocumentReference.rs' });
    const subscribed = await cli(['subscribe', '--endpoint', `http://127.0.0.1:${port}/hooks`], {
      FHIR_TOKEN: gpToken,
    });
    expect(subscribed.code).toBe(0);
    expect(subscribed.stdout).toContain(
      `criteria: DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|${gp}`,
    );
    const [, subscriptionId] = /^Subscription\/(\S+) active$/m.exec(subscribed.stdout)!;
    const [, secret] = /^secret: (whsec_\S+)$/m.exec(subscribed.stdout)!;
    const listed = await json(await t.fetch(`/fhir/Subscription/${subscriptionId}`, { org: gp }));
    expect(listed.extension ?? []).not.toContainEqual(expect.objectContaining({ valueString: secret }));

    const receiver = start(['receive', '--port', String(port), '--count', '1'], { FHIR_WEBHOOK_SECRET: secret });
    const received = collect(receiver);
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      receiver.stderr?.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (seen.includes('Listening on')) {
          resolve();
        }
      });
      receiver.once('exit', () => reject(new Error(`receive exited early: ${seen}`)));
    });

    // signed with another secret: refused before anything is printed as a notification
    const body = JSON.stringify({ resourceType: 'DocumentReference', id: 'forged', status: 'current' });
    const forgedId = `msg_${randomUUID()}`;
    const timestamp = new Date();
    const forged = await fetch(`http://127.0.0.1:${port}/hooks/DocumentReference/forged`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/fhir+json',
        'webhook-id': forgedId,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': new Webhook(`whsec_${Buffer.from(randomUUID()).toString('base64')}`).sign(
          forgedId,
          timestamp,
          body,
        ),
      },
      body,
    });
    expect(forged.status).toBe(401);

    const early = await cli(['--org', 'RTG', 'submit', 'fresh.json']);
    expect(early.code).toBe(2); // the file does not exist yet: a usage error, nothing sent
    expect(early.stderr).toMatch(/Cannot read fresh\.json/);
    const document = aDischargeSummaryR4({
      identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
      nhsNumber: aNhsNumber(),
      gpOds: gp,
    });
    await writeFile(path.join(work.path, 'fresh.json'), JSON.stringify(document));
    const submitted = await cli(['--org', 'RTG', 'submit', 'fresh.json']);
    expect(submitted.code).toBe(0);
    const [, referenceId] = /DocumentReference\/(\S+)/.exec(row(submitted, 'fresh.json').detail)!;

    const run = await received;
    expect(run.code).toBe(0);
    const notifications = run.stdout.trimEnd().split('\n');
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatch(
      new RegExp(
        `^\\S+ PUT /hooks/DocumentReference/${referenceId} webhook-id=\\S+ DocumentReference/${referenceId} current$`,
      ),
    );
    expect(run.stdout).not.toContain('forged');
    expect(run.stderr).toMatch(/refused PUT \/hooks\/DocumentReference\/forged: bad signature/);
  });

  it("withdraws a document (status entered-in-error), says so again on a re-run, and reports another organisation's refusal", async () => {
    const other = await cli(['--org', 'RXX', 'withdraw', stored.stu3Reference]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/was not withdrawn: 403 forbidden/);

    const run = await cli(['--org', 'RTG', 'withdraw', stored.stu3Reference]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`DocumentReference/${stored.stu3Reference} withdrawn: entered-in-error (version 2)\n`);
    const index = await json(await t.fetch(`/fhir/DocumentReference/${stored.stu3Reference}`));
    expect(index.status).toBe('entered-in-error');

    const withdrawn = await cli(['--org', 'RTG', 'search', '--nhs', nhsNumber, '--status', 'entered-in-error']);
    expect(withdrawn.code).toBe(0);
    expect(withdrawn.stdout).toContain(stored.stu3Reference);
    expect(withdrawn.stdout).not.toContain(stored.r4Reference);
    expect(withdrawn.stdout).toMatch(/\n1 document of 1\n$/);

    const again = await cli(['--org', 'RTG', 'withdraw', stored.stu3Reference]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('was already withdrawn (version 2)');
  });

  it('prints a local token the server accepts', async () => {
    const run = await cli(['--org', 'RTG', 'token', '--scope', 'system/Bundle.r']);
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    const read = await fetch(`${t.fhirUrl}/Bundle/${stored.r4Bundle}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
    const denied = await fetch(`${t.fhirUrl}/DocumentReference/${stored.r4Reference}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(denied.status).toBe(403);
  });

  it.each([
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['an unknown option', ['search', '--nhs', '9434765919', '--colour'], /unknown option/],
    ['a missing required option', ['search'], /required option '--nhs <number>'/],
    ['an NHS number failing modulus 11', ['--org', 'RTG', 'search', '--nhs', '9434765918'], /not a valid NHS number/],
    ['a status the registry does not use', ['search', '--nhs', '9434765919', '--status', 'final'], /--status/],
    ['a concurrency of 0', ['--org', 'RTG', 'submit', '--concurrency', '0', 'docs'], /--concurrency/],
    ['no credentials at all', ['search', '--nhs', '9434765919'], /No credentials/],
    ['a receiver without a secret', ['receive', '--port', '0'], /--secret/],
  ])('exits 2 on %s, saying why', async (_label, args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });
});
