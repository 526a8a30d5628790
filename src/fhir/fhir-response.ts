import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { operationOutcome } from '../common/operation-outcome.js';
import type { FhirResource } from '../format/fhir-json.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { contentTypeOf, resourceRepresentation, varyOnAccept } from './content-negotiation.js';

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** The `return=` preference of a write (FHIR R4 http.html#ops); representation when absent. */
export function preferredReturn(request: FastifyRequest): PreferReturn {
  const prefer = String(request.headers.prefer ?? '');
  const match = /(?:^|[;,\s])return\s*=\s*"?(minimal|representation|OperationOutcome)"?/i.exec(prefer);
  const value = match?.[1]?.toLowerCase();
  if (value === 'minimal') {
    return 'minimal';
  }
  if (value === 'operationoutcome') {
    return 'OperationOutcome';
  }
  return 'representation';
}

/**
 * Finishes a successful write as the client's `Prefer: return=` asks: no body, an OperationOutcome saying what
 * happened (plus any warnings), or the representation. Status and headers are already on the reply.
 */
export async function sendWriteResult(
  request: FastifyRequest,
  reply: FastifyReply,
  result: { summary: string; warnings?: OutcomeIssue[]; representation: () => unknown },
): Promise<void> {
  switch (preferredReturn(request)) {
    case 'minimal':
      await reply.send();
      return;
    case 'OperationOutcome':
      await sendOutcome(reply, reply.statusCode, [
        { severity: 'information', code: 'informational', diagnostics: result.summary },
        ...(result.warnings ?? []),
      ]);
      return;
    case 'representation':
      await result.representation();
      return;
  }
}

/** Strong ETag of immutable content, from its SHA-256. */
export const contentEtag = (sha256: string): string => `"${sha256}"`;

/** Weak ETag of a resource version, as FHIR R4 http.html#versioning defines. */
export const versionEtag = (versionId: string | number): string => `W/"${versionId}"`;

/** True when If-None-Match names the current ETag, so the client's copy is fresh (304). */
export function notModified(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (!header) {
    return false;
  }
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  return header === '*' || header.split(',').some((tag) => strip(tag) === strip(etag));
}

/** JSON text we serialised ourselves (a stored resource): spliced into a response without parsing it again. */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * JSON.stringify, with each RawJson's text spliced in verbatim. A placeholder carries a random nonce, so no string in
 * the body can pose as one.
 */
export function stringifyJson(body: unknown): string {
  const raws: string[] = [];
  let nonce: string | undefined;
  const text = JSON.stringify(body, (_key, value: unknown) => {
    if (!(value instanceof RawJson)) {
      return value;
    }
    // drawn only for responses that splice, not for every JSON answer
    nonce ??= randomBytes(12).toString('hex');
    return `${nonce}:${raws.push(value.text) - 1}`;
  });
  if (nonce === undefined) {
    return text;
  }
  return text.replace(new RegExp(`"${nonce}:(\\d+)"`, 'g'), (_match, index: string) => raws[Number(index)]);
}

/**
 * Sends a FHIR resource (RawJson parts spliced in) as FHIR JSON, or as FHIR XML when the request's `_format` or
 * Accept asks for it; 406 when it asks for neither.
 */
export function sendResource(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  const representation = resourceRepresentation(reply.request);
  const json = stringifyJson(body);
  varyOnAccept(reply);
  const text = representation.format === 'xml' ? writeFhirXml(JSON.parse(json) as FhirResource) : json;
  return reply.status(status).header('content-type', contentTypeOf(representation.mediaType)).send(text);
}

export function sendOutcome(reply: FastifyReply, status: number, issues: OutcomeIssue[]): FastifyReply {
  return sendResource(reply, status, operationOutcome(issues));
}
