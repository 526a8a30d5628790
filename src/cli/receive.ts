import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { usageError } from './errors.js';
import { at } from './search.js';
import { printable } from './text.js';

export interface VerifiedNotification {
  method: string;
  path: string;
  webhookId: string;
  /** What the notification is about, e.g. "DocumentReference/abc current". */
  about: string;
  /** The webhook-id was seen before: a redelivery (delivery is at least once). */
  repeat: boolean;
}

export interface ReceiverOptions {
  host: string;
  port: number;
  secret: string;
  maxBytes?: number;
  onNotification(notification: VerifiedNotification): void;
  onRefused(method: string, path: string, reason: string): void;
}

/** Checks the secret is a Standard Webhooks one (whsec_ + base64) before anything is received with it. */
export function webhookVerifier(secret: string): Webhook {
  const trimmed = secret.trim();
  const key = trimmed.startsWith('whsec_') ? trimmed.slice('whsec_'.length) : trimmed;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || key.length % 4 !== 0) {
    throw usageError('The secret must be the whsec_... value the subscription was created with');
  }
  return new Webhook(trimmed);
}

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** One line about a verified notification's payload: the resource, the Bundle's focus, or that there was none. */
export function describePayload(body: string): string {
  if (body.length === 0) {
    return 'no payload (search for what changed)';
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `${body.length} bytes that are not JSON`;
  }
  const type = str(at(parsed, 'resourceType'));
  if (type === 'Bundle' && at(parsed, 'type') === 'message') {
    // a message channel: the MessageHeader's event (a code, or the last segment of the topic URL) and its focus
    const header = at(parsed, 'entry', 0, 'resource');
    const event = str(at(header, 'eventCoding', 'code')) || str(at(header, 'eventUri')).replace(/^.*\//, '');
    const focus = ((at(header, 'focus') ?? []) as unknown[]).map((f) =>
      str(at(f, 'reference')).replace(/^.*\/(\w+\/[^/]+)$/, '$1'),
    );
    return printable(`message ${event || 'unknown'}${focus.length ? `: ${focus.join(', ')}` : ''}`);
  }
  if (type === 'Bundle') {
    // topic-based: the SubscriptionStatus Parameters first, then the focus resources (or only their fullUrls)
    const entries = Array.isArray(at(parsed, 'entry')) ? (at(parsed, 'entry') as unknown[]) : [];
    const parameters = (at(entries[0], 'resource', 'parameter') ?? []) as unknown[];
    const kind = Array.isArray(parameters)
      ? str(
          at(
            parameters.find((p) => at(p, 'name') === 'type'),
            'valueCode',
          ),
        )
      : '';
    const focus = entries.slice(1).map((entry) => {
      const resource = at(entry, 'resource');
      return resource
        ? `${str(at(resource, 'resourceType'))}/${str(at(resource, 'id'))}`
        : str(at(entry, 'fullUrl')).replace(/^.*\/(\w+\/[^/]+)$/, '$1');
    });
    return printable(`Bundle ${kind || str(at(parsed, 'type'))}${focus.length ? `: ${focus.join(', ')}` : ''}`);
  }
  const status = str(at(parsed, 'status'));
  return printable(`${type || 'unknown'}/${str(at(parsed, 'id'))}${status ? ` ${status}` : ''}`);
}

function signatureHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(' ') : (value ?? '');
  };
  return {
    'webhook-id': one('webhook-id'),
    'webhook-timestamp': one('webhook-timestamp'),
    'webhook-signature': one('webhook-signature'),
  };
}

/**
 * A webhook receiver: verifies each request's Standard Webhooks signature over the exact bytes received and answers
 * 401 when it does not match (or is older than five minutes), 200 to a verified PUT (an R4 rest-hook update),
 * 204 to a verified POST.
 */
export async function startReceiver(options: ReceiverOptions): Promise<{ url: string; close(): Promise<void> }> {
  const verifier = webhookVerifier(options.secret);
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  const seen = new Set<string>();
  const server: Server = createServer((request, response) => {
    const method = request.method ?? '';
    const path = printable(request.url ?? '/');
    if (method !== 'POST' && method !== 'PUT') {
      response.writeHead(405, { allow: 'POST, PUT' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        options.onRefused(method, path, `body over ${maxBytes} bytes`);
        response.writeHead(413, { connection: 'close' }).end();
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = signatureHeaders(request.headers);
      try {
        verifier.verify(body, headers, { jsonParse: false });
      } catch (error) {
        options.onRefused(method, path, `bad signature (${error instanceof Error ? error.message : String(error)})`);
        response.writeHead(401, { 'content-type': 'text/plain' }).end('signature does not verify');
        return;
      }
      const webhookId = headers['webhook-id'];
      const repeat = seen.has(webhookId);
      seen.add(webhookId);
      options.onNotification({ method, path, webhookId: printable(webhookId), about: describePayload(body), repeat });
      response.writeHead(method === 'PUT' ? 200 : 204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(usageError(`Cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`)),
    );
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
