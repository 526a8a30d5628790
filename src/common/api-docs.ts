import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';

/**
 * OpenAPI decorators for the routes of this server, which read raw requests and write raw replies: what a route
 * takes and answers is declared here in FHIR's terms (both wire formats, OperationOutcome errors), and the document
 * itself is built in fhir/openapi.ts.
 */

/** The security scheme the access rules name: a bearer JWT whose SMART scopes are listed per operation. */
export const BEARER_SCHEME = 'smart';

export const FHIR_JSON_TYPE = 'application/fhir+json';
export const FHIR_XML_TYPE = 'application/fhir+xml';
export const JSON_PATCH_TYPE = 'application/json-patch+json';
export const FORM_TYPE = 'application/x-www-form-urlencoded';
/** Any media type: the bytes of a Binary. */
export const ANY_TYPE = '*/*';

/** A schema component by name (see fhir/openapi.ts for the components). */
export const schemaRef = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });

interface Example {
  summary: string;
  value: unknown;
}

/** A FHIR body in both formats: JSON described by the schema component, XML as text of the same resource. */
export function fhirContent(schema: string, examples?: Record<string, Example>) {
  return {
    [FHIR_JSON_TYPE]: { schema: schemaRef(schema), ...(examples ? { examples } : {}) },
    [FHIR_XML_TYPE]: { schema: { type: 'string', description: `The ${schema} in FHIR XML` } },
  };
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 406 | 409 | 412 | 413 | 415 | 416 | 422 | 429 | 503;

const ERROR_MEANINGS: Record<ErrorStatus, string> = {
  400: 'The request is malformed (a body that does not parse, a bad parameter)',
  401: 'No valid bearer access token; WWW-Authenticate says why',
  403: 'The token lacks the SMART scope this operation needs (named in WWW-Authenticate)',
  404: 'No such resource',
  406: 'Accept or _format names nothing this operation can send',
  409: 'The request conflicts with what is stored',
  412: 'If-Match does not name the current version',
  413: 'The body is larger than the limit (MAX_RESOURCE_BYTES)',
  415: 'The Content-Type is not one this operation accepts',
  416: 'The Range lies outside the content',
  422: 'The request is well formed but breaks a FHIR or business rule',
  429: 'Too many requests from this address or client; Retry-After says when to try again',
  503: 'The database or blob store is unavailable; retry after Retry-After',
};

/** The status's usual meaning, for responses added outside a route's decorators. */
export const errorMeaning = (status: ErrorStatus): string => ERROR_MEANINGS[status];

/** An OperationOutcome response, in the client's FHIR format. */
export function outcomeResponse(description: string) {
  return { description, content: fhirContent('OperationOutcome') };
}

/**
 * The errors a route really answers, each an OperationOutcome; a status alone takes its usual meaning, a pair says
 * what it means here.
 */
export function ApiErrors(...errors: (ErrorStatus | [ErrorStatus, string])[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...errors.map((error) => {
      const [status, description] = Array.isArray(error) ? error : [error, ERROR_MEANINGS[error]];
      return ApiResponse({ status, ...outcomeResponse(description) });
    }),
  );
}

const RESPONSE_HEADERS = {
  Location: 'The URL of what was created (a versioned URL for versioned resources)',
  ETag: 'W/"versionId" for versioned resources; a strong hash of the bytes for stored content',
  'Last-Modified': 'When this version or content was stored',
  Link: '<DocumentReference URL>; rel="related": the index entry of the document',
  'Content-Range': 'bytes start-end/size of the part sent',
};

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Response headers by name, described once. */
export function responseHeaders(names: readonly ResponseHeader[]) {
  return Object.fromEntries(
    names.map((name) => [name, { description: RESPONSE_HEADERS[name], schema: { type: 'string' } }]),
  );
}

/** A FHIR resource response in either format, with the headers it carries. */
export function ApiFhirResponse(
  status: number,
  schema: string,
  description: string,
  headers: readonly ResponseHeader[] = [],
): MethodDecorator {
  return ApiResponse({
    status,
    description,
    content: fhirContent(schema),
    ...(headers.length > 0 ? { headers: responseHeaders(headers) } : {}),
  });
}

/** A FHIR request body in either format, with examples of the JSON. */
export function ApiFhirBody(schema: string, description: string, examples?: Record<string, Example>): MethodDecorator {
  return ApiBody({ required: true, description, schema: schemaRef(schema), ...(examples ? { examples } : {}) });
}

/** The `{id}` path parameter of a FHIR resource. */
export const ApiResourceId = (resourceType: string): MethodDecorator =>
  ApiParam({ name: 'id', description: `The ${resourceType}'s logical id`, schema: { type: 'string' } });

/** `_format` (FHIR R4 http.html#mime-type): overrides Accept. */
export const ApiFormat = (): MethodDecorator =>
  ApiQuery({
    name: '_format',
    required: false,
    description: 'The response format, overriding Accept: json, xml, or a FHIR media type',
    schema: { type: 'string', examples: ['json', 'xml'] },
  });

/** Prefer: return=minimal | representation | OperationOutcome (FHIR R4 http.html#ops) on a write. */
export const ApiPreferReturn = (): MethodDecorator =>
  ApiHeader({
    name: 'Prefer',
    required: false,
    description: 'return=minimal (no body), return=representation (the default) or return=OperationOutcome',
    schema: { type: 'string', examples: ['return=minimal', 'return=OperationOutcome'] },
  });

/** If-Match: the version a change was made against; a stale one is refused with 412. */
export const ApiIfMatch = (): MethodDecorator =>
  ApiHeader({
    name: 'If-Match',
    required: false,
    description: 'The ETag of the version this change was made against (W/"<versionId>"); a stale one gets 412',
    schema: { type: 'string', examples: ['W/"1"'] },
  });

/** If-None-Match: a matching ETag answers 304. */
export const ApiIfNoneMatch = (): MethodDecorator =>
  applyDecorators(
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: 'An ETag the client holds; the same version answers 304 Not Modified',
      schema: { type: 'string' },
    }),
    ApiResponse({ status: 304, description: 'Not modified: the ETag in If-None-Match is still current' }),
  );

/** Search parameters as the CapabilityStatement declares them (fhir/capabilities.ts); all optional. */
export function ApiSearchParams(params: readonly { name: string; documentation: string }[]): MethodDecorator {
  return applyDecorators(
    ...params.map(({ name, documentation }) =>
      ApiQuery({ name, description: documentation, required: false, schema: { type: 'string' } }),
    ),
  );
}
