import type { AppConfig } from '../config/app-config.js';
import { RESOURCE_CAPABILITIES, SYSTEM_INTERACTIONS } from './capabilities.js';

/** The R4 CapabilityStatement, built from RESOURCE_CAPABILITIES so it cannot drift from the routes. */
export function capabilityStatement(config: Pick<AppConfig, 'baseUrl' | 'auth'>, software: { version: string }) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    kind: 'instance',
    software: { name: 'fhir-document-registry', version: software.version },
    implementation: {
      description: 'FHIR document registry and repository (store and notify)',
      url: `${config.baseUrl}/fhir`,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/fhir+xml'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Every interaction answers FHIR JSON by default and FHIR XML when Accept or _format asks for it ' +
          '(_format wins: json, xml or a FHIR media type); 406 when neither is acceptable. Errors follow the same ' +
          'choice, falling back to JSON.',
        security: {
          cors: false,
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
            },
          ],
          description:
            'OAuth 2.0 bearer JWT access tokens with SMART v2 system/ and user/ scopes (v1 .read/.write accepted); ' +
            `issuer ${config.auth.issuer}, audience ${config.auth.audience}. See ${config.baseUrl}/fhir/.well-known/smart-configuration`,
          ...(config.auth.tokenUrl
            ? {
                extension: [
                  {
                    url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
                    extension: [{ url: 'token', valueUri: config.auth.tokenUrl }],
                  },
                ],
              }
            : {}),
        },
        resource: RESOURCE_CAPABILITIES.map((capability) => ({
          type: capability.type,
          documentation: capability.documentation,
          interaction: capability.interactions.map((code) => ({ code })),
          ...(capability.type === 'Bundle' || capability.type === 'Binary' ? {} : { versioning: 'versioned' }),
          // FHIR arrays are never empty (json.html): a resource without search parameters has no searchParam.
          ...(capability.searchParams.length > 0
            ? {
                searchParam: capability.searchParams.map((p) => ({
                  name: p.name,
                  type: p.type,
                  documentation: p.documentation,
                })),
              }
            : {}),
          ...(capability.type === 'Subscription'
            ? {
                // Backport IG: the topics a server supports, on its Subscription resource entry
                extension: ['document-available', 'delivery-status'].map((topic) => ({
                  url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical',
                  valueCanonical: `${config.baseUrl}/fhir/SubscriptionTopic/${topic}`,
                })),
                operation: [
                  {
                    name: 'status',
                    definition:
                      'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status',
                  },
                  {
                    name: 'events',
                    definition:
                      'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events',
                  },
                ],
              }
            : {}),
        })),
        interaction: SYSTEM_INTERACTIONS.map(({ code, documentation }) => ({ code, documentation })),
        operation: [
          {
            name: 'process-message',
            definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message',
            documentation:
              'ITK3 document messages (R4 or STU3, JSON or XML), processed synchronously: the document is stored as by ' +
              'POST /fhir/Bundle and addressed to the message destinations; the answer is an ITK3 Response message ' +
              '(20013 stored; 2000x refused); business acknowledgements (3000x) follow when recipients answer their Task',
          },
        ],
      },
    ],
    messaging: [
      {
        endpoint: [
          {
            protocol: { system: 'http://terminology.hl7.org/CodeSystem/message-transport', code: 'http' },
            address: `${config.baseUrl}/fhir/$process-message`,
          },
        ],
        documentation:
          'Receives ITK3 messages whose MessageHeader event is a document event (ITK-MessageEvent-2, e.g. ITK003D ' +
          'eDischarge) and answers with ITK3 Response messages (ITK008M); requires system/Bundle.c',
      },
    ],
  };
}

/** SMART App Launch discovery document (.well-known/smart-configuration) for backend-services clients. */
export function smartConfiguration(config: Pick<AppConfig, 'auth'>) {
  return {
    issuer: config.auth.issuer,
    ...(config.auth.jwksUri ? { jwks_uri: config.auth.jwksUri } : {}),
    ...(config.auth.tokenUrl ? { token_endpoint: config.auth.tokenUrl } : {}),
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    // SMART App Launch 2.x Backend Services: clients sign their assertions with RS384 or ES384
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: [
      'system/*.cruds',
      'system/DocumentReference.rs',
      'system/Bundle.cr',
      'system/Binary.cr',
      'system/Subscription.cruds',
      'system/AuditEvent.rs',
    ],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
  };
}
