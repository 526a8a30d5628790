import type { AppConfig } from '../config/app-config.js';
import { RESOURCE_CAPABILITIES } from './capabilities.js';

/** The R4 CapabilityStatement, built from RESOURCE_CAPABILITIES so it cannot drift from the routes. */
export function capabilityStatement(config: Pick<AppConfig, 'baseUrl'>, software: { version: string }) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    kind: 'instance',
    software: { name: 'fhir-document-registry', version: software.version },
    implementation: { description: 'FHIR document registry and repository (store and notify)', url: `${config.baseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/fhir+xml'],
    rest: [
      {
        mode: 'server',
        resource: RESOURCE_CAPABILITIES.map((capability) => ({
          type: capability.type,
          documentation: capability.documentation,
          interaction: capability.interactions.map((code) => ({ code })),
          ...(capability.type === 'Bundle' || capability.type === 'Binary' ? {} : { versioning: 'versioned' }),
          searchParam: capability.searchParams.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
        })),
      },
    ],
  };
}
