import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import {
  ANY_TYPE,
  BEARER_SCHEME,
  type ErrorStatus,
  errorMeaning,
  FHIR_XML_TYPE,
  outcomeResponse,
} from '../common/api-docs.js';
import type { AppConfig } from '../config/app-config.js';
import { RESOURCE_CAPABILITIES } from './capabilities.js';
import { OPERATION_OUTCOME_EXAMPLE } from './openapi-examples.js';

export const DOCS_PATH = '/docs';
export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;
const VERSION = '0.1.0';

/**
 * swagger-ui's page: its scripts and style sheets from here (no inline script), inline styles (its template and
 * React set them), images from here or data: URLs, and "Try it out" calls to this server only. The API's own
 * policy (default-src 'none') would leave the page blank.
 */
export function docsPolicy(baseUrl: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self' ${new URL(baseUrl).origin}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

const fhirResource = (resourceType: string, description: string) => ({
  type: 'object',
  description: `${description} (FHIR R4 ${resourceType}: https://hl7.org/fhir/R4/${resourceType.toLowerCase()}.html)`,
  required: ['resourceType'],
  properties: { resourceType: { const: resourceType }, id: { type: 'string' }, meta: { type: 'object' } },
  additionalProperties: true,
});

/** Schema components the route decorators refer to: FHIR resources in outline (FHIR defines them in full). */
const SCHEMAS = {
  OperationOutcome: {
    type: 'object',
    description: 'Every error, in the format the client asked for (FHIR R4 operationoutcome.html)',
    required: ['resourceType', 'issue'],
    properties: {
      resourceType: { const: 'OperationOutcome' },
      issue: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['severity', 'code'],
          properties: {
            severity: { enum: ['fatal', 'error', 'warning', 'information'] },
            code: { type: 'string', description: 'FHIR issue type, e.g. invalid, not-found, forbidden' },
            diagnostics: { type: 'string' },
            expression: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    examples: [OPERATION_OUTCOME_EXAMPLE],
  },
  Bundle: fhirResource('Bundle', 'A document, transaction, transaction-response, searchset or history Bundle'),
  DocumentReference: fhirResource('DocumentReference', 'The index entry of a stored document'),
  Binary: fhirResource('Binary', 'Bytes of any type, with base64 data when read as a FHIR resource'),
  List: fhirResource('List', 'An IHE MHD SubmissionSet'),
  Subscription: fhirResource('Subscription', 'A rest-hook subscription to new and changed DocumentReferences'),
  SubscriptionTopic: fhirResource(
    'SubscriptionTopic',
    'A topic of the Subscriptions Backport IG flavour (document-available, delivery-status)',
  ),
  Task: fhirResource('Task', 'The delivery of one document to one recipient organisation'),
  AuditEvent: fhirResource('AuditEvent', 'One audited access'),
  Parameters: fhirResource('Parameters', 'The parameters of an operation'),
  CapabilityStatement: fhirResource('CapabilityStatement', 'What this server supports'),
  JsonPatch: {
    type: 'array',
    description: 'RFC 6902 JSON Patch',
    items: {
      type: 'object',
      required: ['op', 'path'],
      properties: {
        op: { enum: ['add', 'remove', 'replace', 'move', 'copy', 'test'] },
        path: { type: 'string' },
        from: { type: 'string' },
        value: {},
      },
    },
  },
  TokenRequest: {
    type: 'object',
    description: 'SMART Backend Services: client_credentials with a private_key_jwt client assertion (RFC 7523)',
    required: ['grant_type', 'client_assertion_type', 'client_assertion'],
    properties: {
      grant_type: { const: 'client_credentials' },
      scope: { type: 'string', description: 'Space-separated SMART system scopes' },
      client_assertion_type: { const: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' },
      client_assertion: { type: 'string', description: 'A JWT signed (RS384 or ES384) with a registered client key' },
    },
  },
  TokenResponse: {
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in', 'scope'],
    properties: {
      access_token: { type: 'string' },
      token_type: { const: 'bearer' },
      expires_in: { type: 'integer' },
      scope: { type: 'string' },
    },
  },
  OAuthError: {
    type: 'object',
    description: 'RFC 6749 section 5.2 error',
    required: ['error'],
    properties: { error: { type: 'string' }, error_description: { type: 'string' } },
  },
  SmartConfiguration: {
    type: 'object',
    description: 'SMART App Launch discovery document (.well-known/smart-configuration)',
    additionalProperties: true,
  },
  HealthCheck: {
    type: 'object',
    description: "@nestjs/terminus's result: status, and each dependency under info, error and details",
    required: ['status'],
    properties: {
      status: { enum: ['ok', 'error', 'shutting_down'] },
      info: { type: 'object', additionalProperties: true },
      error: { type: 'object', additionalProperties: true },
      details: { type: 'object', additionalProperties: true },
    },
  },
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Paths whose answers need no database: they are never withheld for want of an audit record. */
const WITHOUT_DATABASE = ['/fhir/metadata', '/fhir/.well-known/smart-configuration', '/fhir/SubscriptionTopic/'];

/** The statuses that hooks, not handlers, answer with: which paths each applies to. */
const CROSS_CUTTING: [ErrorStatus, (path: string) => boolean, string?][] = [
  // the per-address rate limit (request-hygiene.ts) spares only the health probes
  [429, (path) => !path.startsWith('/health/')],
  // content negotiation (content-negotiation.ts) under /fhir, where the route does not negotiate for itself
  [406, (path) => path.startsWith('/fhir') && path !== '/fhir/.well-known/smart-configuration'],
  [
    503,
    (path) => (path.startsWith('/fhir') && !WITHOUT_DATABASE.some((p) => path.startsWith(p))) || path === '/auth/token',
    'The database or blob store is unavailable (or the access could not be audited); retry after Retry-After',
  ],
];

/** Adds the responses every operation of a path can get from the request hooks, unless a route says otherwise. */
function addCrossCuttingResponses(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) {
        continue;
      }
      for (const [status, applies, description] of CROSS_CUTTING) {
        if (applies(path) && !operation.responses[status]) {
          operation.responses[status] = outcomeResponse(description ?? errorMeaning(status));
        }
      }
    }
  }
}

/** What a request body of each non-JSON media type is, whatever schema the route gave its JSON. */
const RAW_BODIES: Record<string, object> = {
  [FHIR_XML_TYPE]: { schema: { type: 'string', description: 'The same resource in FHIR XML' } },
  [ANY_TYPE]: { schema: { description: 'The bytes themselves, streamed; Content-Type is stored with them' } },
};

/**
 * @nestjs/swagger gives every media type a route consumes the one schema (and examples) of its @ApiBody, which
 * describes the JSON: XML and raw bytes are described here instead.
 */
function describeRawBodies(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const body = item[method]?.requestBody;
      if (!body || !('content' in body)) {
        continue;
      }
      for (const [type, content] of Object.entries(RAW_BODIES)) {
        if (body.content[type]) {
          body.content[type] = content;
        }
      }
    }
  }
}

/** The OpenAPI 3.1 document of the API, from the controllers' decorators. */
export function buildOpenApiDocument(app: NestFastifyApplication, config: AppConfig): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('FHIR document registry')
    .setDescription(
      'FHIR R4 document registry and repository (NHS store and notify). Bodies are FHIR JSON or XML ' +
        '(Content-Type application/fhir+json or application/fhir+xml; Accept or _format picks the response format); ' +
        'every error is an OperationOutcome. Access tokens are SMART Backend Services bearer JWTs whose system scopes ' +
        `each operation lists. The CapabilityStatement is at ${config.baseUrl}/fhir/metadata.`,
    )
    .setVersion(VERSION)
    .addServer(config.baseUrl)
    .addSecurity(BEARER_SCHEME, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description:
        'A SMART Backend Services access token (client_credentials with a signed client assertion, from ' +
        `${config.auth.tokenUrl ?? 'the token endpoint of the configured issuer'}). Each operation lists the ` +
        'system scope it needs; system/*.cruds grants them all.',
    });
  for (const capability of RESOURCE_CAPABILITIES) {
    builder.addTag(capability.type, capability.documentation);
  }
  builder.addTag('System', 'The CapabilityStatement, SMART discovery and the ITI-65 transaction');
  builder.addTag('Authorization', 'The local issuer of access tokens (when AUTH_JWKS_URI is not set)');
  builder.addTag('Operations', 'Health probes and Prometheus metrics');
  const options = builder.build();
  options.components = { ...options.components, schemas: SCHEMAS as NonNullable<typeof options.components>['schemas'] };
  const document = SwaggerModule.createDocument(app, options);
  addCrossCuttingResponses(document);
  describeRawBodies(document);
  return document;
}

/**
 * Serves the OpenAPI document at /docs/openapi.json and swagger-ui at /docs, without a token: like the
 * CapabilityStatement, they describe the API and hold no data. Plain Fastify routes, so the bearer guard and the
 * audit trail (both for /fhir data) do not apply.
 */
export function registerApiDocs(app: NestFastifyApplication, config: AppConfig): void {
  // built on the first request for it, not at boot: scanning every controller takes a tenth of a second
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app, config), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'FHIR document registry API',
  });
  const policy = docsPolicy(config.baseUrl);
  const fastify: FastifyInstance = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0];
    if ((path === DOCS_PATH || path.startsWith(`${DOCS_PATH}/`)) && reply.statusCode < 400) {
      reply.header('content-security-policy', policy);
    }
    return payload;
  });
}
