import type { FhirResource } from '../format/fhir-json.js';
import { creationTokens } from '../common/fhir-date.js';
import { normalizeText, periodBounds } from './document-reference-search.js';

/** One search value of a parameter, as stored in document_reference_token. */
export interface SearchToken {
  param: string;
  system: string | null;
  code: string;
  /** String parameters: the case- and accent-folded text that starts-with and contains searches compare. */
  normalized?: string;
  /** Period parameters: the inclusive bounds in epoch milliseconds. */
  lowMs?: number;
  highMs?: number;
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
  type?: string;
  identifier?: Identifier;
  display?: string;
}
interface HumanName {
  family?: string;
  given?: string[];
}
interface ContainedResource {
  resourceType?: string;
  id?: string;
  name?: HumanName[];
}

// Organizations and Devices have no given and family names to search.
const PERSON_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson']);

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

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

function text(param: string, value: string): SearchToken {
  return { param, system: null, code: value, normalized: normalizeText(value) };
}

/**
 * Author names: a contained resource's HumanName when the author points at one (`#id`), else the display split
 * into given names and a last-word family name, because index entries reference authors by identifier and display.
 */
function authorNames(authors: Reference[], contained: ContainedResource[]): SearchToken[] {
  const tokens: SearchToken[] = [];
  for (const author of authors) {
    const local = author.reference?.startsWith('#')
      ? contained.find((c) => c.id === author.reference!.slice(1))
      : undefined;
    if (local?.name?.length) {
      for (const name of local.name) {
        tokens.push(...asArray(name.given).map((g) => text('author.given', g)));
        if (name.family) {
          tokens.push(text('author.family', name.family));
        }
      }
      continue;
    }
    const type = local?.resourceType ?? author.type;
    if (!author.display || (type !== undefined && !PERSON_TYPES.has(type))) {
      continue;
    }
    const words = author.display.trim().split(/\s+/).filter(Boolean);
    if (words.length > 0) {
      tokens.push(text('author.family', words[words.length - 1]));
      tokens.push(...words.slice(0, -1).map((g) => text('author.given', g)));
    }
  }
  return tokens;
}

function reference(param: string, value: Reference | undefined): SearchToken[] {
  return value?.reference && !value.reference.startsWith('#') ? [{ param, system: null, code: value.reference }] : [];
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
    content?: {
      attachment?: { contentType?: string; language?: string; creation?: string; url?: string };
      format?: Coding;
    }[];
    context?: {
      event?: CodeableConcept[];
      facilityType?: CodeableConcept;
      practiceSetting?: CodeableConcept;
      period?: { start?: string; end?: string };
      related?: Reference[];
    };
    relatesTo?: { code?: string; target?: Reference }[];
    contained?: ContainedResource[];
  };
  const tokens: SearchToken[] = [
    ...identifiers('identifier', [r.masterIdentifier, ...asArray(r.identifier)]),
    ...codings('type', asArray(r.type)),
    ...codings('category', asArray(r.category)),
    ...identifiers('patient.identifier', [r.subject?.identifier]),
    ...identifiers(
      'author.identifier',
      asArray(r.author).map((a) => a.identifier),
    ),
    ...identifiers('custodian.identifier', [r.custodian?.identifier]),
    ...codings('security-label', asArray(r.securityLabel)),
    ...codings('event', asArray(r.context?.event)),
    ...codings('facility', asArray(r.context?.facilityType)),
    ...codings('setting', asArray(r.context?.practiceSetting)),
    ...reference('subject', r.subject),
    ...reference('custodian', r.custodian),
    ...authorNames(asArray(r.author), asArray(r.contained)),
  ];
  for (const related of asArray(r.context?.related)) {
    tokens.push(...reference('related', related));
  }
  for (const relation of asArray(r.relatesTo)) {
    tokens.push(...reference('relatesto', relation.target));
    if (relation.code) {
      tokens.push({ param: 'relation', system: 'http://hl7.org/fhir/document-relationship-type', code: relation.code });
    }
  }
  const period = r.context?.period;
  if (period && (period.start || period.end)) {
    const bounds = periodBounds(period);
    if (bounds) {
      const code = `${period.start ?? ''}/${period.end ?? ''}`;
      tokens.push({ param: 'period', system: null, code, lowMs: bounds.low, highMs: bounds.high });
    }
  }
  for (const content of asArray(r.content)) {
    if (content.format?.code) {
      tokens.push({ param: 'format', system: content.format.system ?? null, code: content.format.code });
    }
    if (content.attachment?.contentType) {
      tokens.push({ param: 'contenttype', system: null, code: content.attachment.contentType });
    }
    tokens.push(...creationTokens(content.attachment?.creation));
    // where the content is (R4 `location`): a read of a Binary held here finds the DocumentReferences pointing at it
    if (typeof content.attachment?.url === 'string' && content.attachment.url.length <= 512) {
      tokens.push({ param: 'location', system: null, code: content.attachment.url });
    }
  }
  for (const ods of new Set(recipients)) {
    tokens.push({ param: 'recipient', system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: ods });
  }
  return tokens;
}
