import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notAcceptable } from '../common/fhir-error.js';
import type { OperationOutcome } from '../common/operation-outcome.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import type { FhirFormat } from '../format/media-type.js';

/** A negotiated response format: the FHIR format and the media type to label it with. */
export interface Representation {
  readonly format: FhirFormat;
  readonly mediaType: string;
}

/** Media types of each FHIR format, the server's favourite first (STU3-era spellings last). */
export const FHIR_MEDIA_TYPES: Readonly<Record<FhirFormat, readonly string[]>> = {
  json: ['application/fhir+json', 'application/json', 'application/json+fhir'],
  xml: ['application/fhir+xml', 'application/xml', 'text/xml', 'application/xml+fhir'],
};

const FORMAT_OF = new Map<string, FhirFormat>([
  ...FHIR_MEDIA_TYPES.json.map((type): [string, FhirFormat] => [type, 'json']),
  ...FHIR_MEDIA_TYPES.xml.map((type): [string, FhirFormat] => [type, 'xml']),
]);

/** Route config flag: the handler negotiates its own response types (stored bytes, raw Binary). */
export const OWN_NEGOTIATION = { ownNegotiation: true } as const;

/** The FHIR format a media type (parameters ignored) names, if any. */
export function fhirFormatOfType(mediaType: string): FhirFormat | undefined {
  return FORMAT_OF.get(mediaType.split(';')[0].trim().toLowerCase());
}

/**
 * The representation a `_format` value asks for (FHIR R4 http.html#mime-type): `json`, `xml` or one of the FHIR
 * media types, parameters allowed; undefined when it names nothing this server writes.
 */
export function formatParameter(value: string): Representation | undefined {
  const type = value.split(';')[0].trim().toLowerCase();
  if (type === 'json' || type === 'xml') {
    return { format: type, mediaType: FHIR_MEDIA_TYPES[type][0] };
  }
  const format = FORMAT_OF.get(type);
  return format ? { format, mediaType: type } : undefined;
}

interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly q: number;
}

/** The media ranges of an Accept header (RFC 9110 12.5.1); a malformed q counts as 1, as most servers read it. */
export function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [range, ...params] = part.split(';');
    const [type, subtype] = range.trim().toLowerCase().split('/');
    if (!type || !subtype) {
      continue;
    }
    let q = 1;
    for (const param of params) {
      const [name, value] = param.split('=').map((p) => p.trim());
      if (name.toLowerCase() === 'q' && value !== undefined && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) {
        q = Number(value);
      }
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

/** How well `mediaType` matches: the q and specificity (2 exact, 1 type/*, 0 *\/*) of its most specific range. */
function match(mediaType: string, ranges: readonly MediaRange[]): { q: number; specificity: number } | undefined {
  const [type, subtype] = mediaType.split(';')[0].trim().split('/');
  let best: { q: number; specificity: number } | undefined;
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === '*'
          ? 1
          : range.type === '*' && range.subtype === '*'
            ? 0
            : -1;
    if (specificity >= 0 && (!best || specificity > best.specificity)) {
      best = { q: range.q, specificity };
    }
  }
  return best;
}

/**
 * The candidate media type the Accept header likes best: highest q, then the most specific range (a type the client
 * named beats one it reached by wildcard), then the candidates' own order. The first candidate when Accept is absent
 * or empty; undefined when every candidate has q=0 or matches no range.
 */
export function chooseMediaType(candidates: readonly string[], accept: string | undefined): string | undefined {
  const ranges = accept === undefined ? [] : parseAccept(accept);
  if (ranges.length === 0) {
    return candidates[0];
  }
  let chosen: { type: string; q: number; specificity: number } | undefined;
  for (const type of candidates) {
    const found = match(type.toLowerCase(), ranges);
    // STU3-era spellings (application/json+fhir) only when named, or first (a Bundle stored with that type).
    if (!found || found.q <= 0 || (found.specificity < 2 && type.includes('+fhir') && type !== candidates[0])) {
      continue;
    }
    if (!chosen || found.q > chosen.q || (found.q === chosen.q && found.specificity > chosen.specificity)) {
      chosen = { type, ...found };
    }
  }
  return chosen?.type;
}

const formFormats = new WeakMap<FastifyRequest, string>();

/** A `_format` sent in a POST `_search` form body counts as if it were in the URL; 406 at once if unknown. */
export function useFormFormat(request: FastifyRequest, value: string): void {
  formFormats.set(request, value);
  resourceRepresentation(request);
}

/** The `_format` parameter, if given (the first, if repeated): the URL's, else a POST _search body's. */
export function formatQuery(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?._format;
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first !== '' ? first : formFormats.get(request);
}

function acceptOf(request: FastifyRequest): string | undefined {
  const accept = request.headers.accept;
  return Array.isArray(accept) ? accept.join(',') : accept;
}

/**
 * Picks the representation among `candidates` (media types, best first): `_format` wins over Accept (FHIR R4
 * http.html#mime-type). `_format` must name one of the candidates' formats. Throws 406 when nothing fits.
 */
export function negotiate(request: FastifyRequest, candidates: readonly string[]): string {
  const format = formatQuery(request);
  if (format !== undefined) {
    const asked = formatParameter(format);
    const fitting = asked && candidates.find((type) => fhirFormatOfType(type) === asked.format);
    if (!asked || !fitting) {
      throw notAcceptable(
        `_format=${format} is not available here: use json or xml (or a FHIR JSON or XML media type)`,
      );
    }
    // The spelling the client used, when it named a media type of the format.
    return candidates.includes(asked.mediaType) ? asked.mediaType : fitting;
  }
  const chosen = chooseMediaType(candidates, acceptOf(request));
  if (!chosen) {
    throw notAcceptable(
      `None of the media types in Accept (${acceptOf(request)}) can be produced here: ask for ${candidates
        .filter((type) => !type.includes('+fhir'))
        .join(', ')}`,
    );
  }
  return chosen;
}

/** FHIR media types with `preferred` first: what a resource response can be sent as. */
export function fhirCandidates(preferred: FhirFormat = 'json'): string[] {
  const other: FhirFormat = preferred === 'json' ? 'xml' : 'json';
  return [...FHIR_MEDIA_TYPES[preferred], ...FHIR_MEDIA_TYPES[other]];
}

const JSON_CANDIDATES = fhirCandidates('json');

/** The representation of a FHIR resource response (JSON unless the client asks for XML); 406 when neither fits. */
export function resourceRepresentation(request: FastifyRequest): Representation {
  const mediaType = negotiate(request, JSON_CANDIDATES);
  return { format: fhirFormatOfType(mediaType) ?? 'json', mediaType };
}

/** Like resourceRepresentation, but never fails: an error is still answered, as JSON if nothing else fits. */
export function errorRepresentation(request: FastifyRequest | undefined): Representation {
  if (request) {
    try {
      return resourceRepresentation(request);
    } catch {
      // Accept or _format asked for something we cannot write: the error says so in JSON.
    }
  }
  return { format: 'json', mediaType: FHIR_MEDIA_TYPES.json[0] };
}

/** Adds Accept to Vary, keeping what is there (CORS adds Origin). */
export function varyOnAccept(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  const values = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (!values.some((v) => v.toLowerCase() === 'accept' || v === '*')) {
    reply.header('vary', [...values, 'Accept'].join(', '));
  }
}

/** The Content-Type header for a FHIR body of `mediaType`. */
export const contentTypeOf = (mediaType: string): string => `${mediaType}; charset=utf-8`;

/** The body and content type of an OperationOutcome in the client's format (JSON when XML cannot be had). */
export function outcomeBody(
  request: FastifyRequest | undefined,
  outcome: OperationOutcome,
): { contentType: string; body: string } {
  const representation = errorRepresentation(request);
  if (representation.format === 'xml') {
    try {
      return { contentType: contentTypeOf(representation.mediaType), body: writeFhirXml(outcome) };
    } catch {
      // An outcome whose text XML cannot carry (a control character): JSON can.
    }
  }
  const json = representation.format === 'json' ? representation.mediaType : FHIR_MEDIA_TYPES.json[0];
  return { contentType: contentTypeOf(json), body: JSON.stringify(outcome) };
}

/**
 * Refuses with 406, before any work is done, a request under /fhir whose `_format` or Accept names nothing a FHIR
 * response can be sent as; routes marked OWN_NEGOTIATION (Bundle and Binary reads) decide for themselves.
 */
export function registerContentNegotiation(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const config = request.routeOptions.config as { ownNegotiation?: boolean } | undefined;
    if (request.is404 || config?.ownNegotiation === true || !request.url.startsWith('/fhir')) {
      done();
      return;
    }
    try {
      resourceRepresentation(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });
}
