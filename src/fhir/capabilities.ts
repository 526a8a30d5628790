/**
 * What the server supports, declared once: the CapabilityStatement is generated from this, the search
 * parser accepts exactly these parameters, and a test checks every interaction has a route (and back).
 */
export type TypeInteraction = 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'create' | 'search-type';

export interface SearchParamDeclaration {
  name: string;
  type: 'token' | 'reference' | 'date' | 'string' | 'uri' | 'number' | 'special';
  documentation: string;
}

export interface ResourceCapability {
  type: string;
  interactions: TypeInteraction[];
  searchParams: SearchParamDeclaration[];
  documentation: string;
}

export const DOCUMENT_REFERENCE_SEARCH_PARAMS: SearchParamDeclaration[] = [
  {
    name: 'patient.identifier',
    type: 'token',
    documentation: "The patient's identifier, e.g. https://fhir.nhs.uk/Id/nhs-number|9434765919",
  },
];

export const RESOURCE_CAPABILITIES: ResourceCapability[] = [
  {
    type: 'Bundle',
    interactions: ['create', 'read'],
    searchParams: [],
    documentation:
      'FHIR document Bundles (R4 and STU3, JSON and XML), stored byte for byte and indexed as DocumentReferences',
  },
  {
    type: 'DocumentReference',
    interactions: ['read', 'search-type'],
    searchParams: DOCUMENT_REFERENCE_SEARCH_PARAMS,
    documentation: 'The registry index: one DocumentReference per stored document',
  },
  {
    type: 'Binary',
    interactions: ['create', 'read'],
    searchParams: [],
    documentation: 'Raw bytes of any type, streamed; Range requests supported',
  },
];

/** The HTTP method and path (Fastify pattern) that serve each interaction. */
export function routeOf(type: string, interaction: TypeInteraction): { method: string; url: string } {
  switch (interaction) {
    case 'read':
      return { method: 'GET', url: `/fhir/${type}/:id` };
    case 'vread':
      return { method: 'GET', url: `/fhir/${type}/:id/_history/:vid` };
    case 'update':
      return { method: 'PUT', url: `/fhir/${type}/:id` };
    case 'patch':
      return { method: 'PATCH', url: `/fhir/${type}/:id` };
    case 'delete':
      return { method: 'DELETE', url: `/fhir/${type}/:id` };
    case 'history-instance':
      return { method: 'GET', url: `/fhir/${type}/:id/_history` };
    case 'create':
      return { method: 'POST', url: `/fhir/${type}` };
    case 'search-type':
      return { method: 'GET', url: `/fhir/${type}` };
  }
}
