/**
 * The peer: Medplum's FHIR router (@medplum/fhir-router) with its in-memory repository behind node:http, answering
 * POST /fhir/Bundle as a FHIR create. No durability, no auth, no audit: a CPU-only peer for the same ingest.
 *
 * Env: PORT.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const router = new FhirRouter();
const repository = new MemoryRepository();

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  const url = (request.url ?? '/').replace(/^\/fhir/, '');
  const [outcome, resource] = await router.handleRequest(
    {
      method: 'POST',
      url,
      pathname: '',
      body: JSON.parse(body.toString('utf8')) as unknown,
      params: {},
      query: {},
      headers: request.headers,
    },
    repository,
  );
  if (outcome.id !== 'created' || !resource) {
    response.writeHead(400, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(outcome));
    return;
  }
  const minimal = /return=minimal/.test(String(request.headers.prefer ?? ''));
  response.writeHead(201, { location: `/fhir/Bundle/${resource.id}`, etag: `W/"${resource.meta?.versionId}"` });
  response.end(minimal ? undefined : JSON.stringify(resource));
}

const server = createServer((request, response) => {
  if (request.method === 'GET') {
    response.writeHead(200).end('ready');
    return;
  }
  handle(request, response).catch((error: unknown) => {
    response.writeHead(500).end(String(error));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
