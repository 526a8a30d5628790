import type { FhirResource } from './fhir-json.js';

/** One token value of a search parameter, as stored in document_reference_token. */
export interface SearchToken {
  param: string;
  system: string | null;
  code: string;
}

interface Coding {
  system?: string;
  code?: string;
}
interface Identifier {
  system?: string;
  value?: string;
}
interface CodeableConcept {
  coding?: Coding[];
}
interface Reference {
  reference?: string;
  identifier?: Identifier;
}

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function codings(param: string, concepts: CodeableConcept[]): SearchToken[] {
  return concepts.flatMap((concept) =>
    asArray(concept.coding)
      .filter((c) => c.code)
      .map((c) => ({ param, system: c.system ?? null, code: c.code! })),
  );
}

function identifiers(param: string, values: (Identifier | undefined)[]): SearchToken[] {
  return values
    .filter((i): i is Identifier => Boolean(i?.value))
    .map((i) => ({ param, system: i.system ?? null, code: i.value! }));
}

/**
 * The token search values of a DocumentReference (FHIR R4 searchparameter registry names, plus `recipient`).
 * `recipients` are the ODS codes the document is addressed to (registered GP, intended recipients).
 */
export function documentReferenceTokens(resource: FhirResource, recipients: string[] = []): SearchToken[] {
  const r = resource as FhirResource & {
    masterIdentifier?: Identifier;
    identifier?: Identifier[];
    type?: CodeableConcept;
    category?: CodeableConcept[];
    subject?: Reference;
    author?: Reference[];
    custodian?: Reference;
    securityLabel?: CodeableConcept[];
    content?: { attachment?: { contentType?: string; language?: string }; format?: Coding }[];
    context?: { event?: CodeableConcept[]; facilityType?: CodeableConcept; practiceSetting?: CodeableConcept };
  };
  const tokens: SearchToken[] = [
    ...identifiers('identifier', [r.masterIdentifier, ...asArray(r.identifier)]),
    ...codings('type', asArray(r.type)),
    ...codings('category', asArray(r.category)),
    ...identifiers('patient.identifier', [r.subject?.identifier]),
    ...identifiers('author.identifier', asArray(r.author).map((a) => a.identifier)),
    ...identifiers('custodian.identifier', [r.custodian?.identifier]),
    ...codings('security-label', asArray(r.securityLabel)),
    ...codings('event', asArray(r.context?.event)),
    ...codings('facility', asArray(r.context?.facilityType)),
    ...codings('setting', asArray(r.context?.practiceSetting)),
  ];
  for (const content of asArray(r.content)) {
    if (content.format?.code) {
      tokens.push({ param: 'format', system: content.format.system ?? null, code: content.format.code });
    }
    if (content.attachment?.contentType) {
      tokens.push({ param: 'contenttype', system: null, code: content.attachment.contentType });
    }
  }
  for (const ods of new Set(recipients)) {
    tokens.push({ param: 'recipient', system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: ods });
  }
  return tokens;
}
