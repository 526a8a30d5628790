import type { DocumentAuthor, DocumentFacts, Identifier } from './document-bundle.js';
import type { FhirResource } from '../format/fhir-json.js';
import { ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';

/** Where and how the submitted document Bundle was stored. */
export interface StoredDocument {
  id: string;
  bundleUrl: string;
  contentType: string;
  size: number;
  /**
   * SHA-1 of the stored bytes, base64 as R4 Attachment.hash wants (hex is accepted and converted); absent until the
   * bytes are stored (the writer fills it in from what the blob store measured).
   */
  sha1?: string;
  createdAt: Date;
}

// NRL's "Structured Document" format code, because this registry mirrors NRL pointers and a FHIR document Bundle is
// structured content; IHE MHD would use urn:ihe:iti:xds:2017:mimeTypeSufficient and let contentType say "FHIR".
export const DOCUMENT_FORMAT = {
  system: 'https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode',
  code: 'urn:nhs-ic:structured',
  display: 'Structured Document',
} as const;

const DOC_STATUS: Record<string, string> = {
  preliminary: 'preliminary',
  final: 'final',
  amended: 'amended',
  'entered-in-error': 'entered-in-error',
};

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * DocumentReference.date is an R4 instant, and means the same for every format: Composition.date (when the document
 * was written: R4 and STU3 alike) when it is precise to the second; else Bundle.timestamp (R4 only: when it was
 * assembled); else the indexing time, because a date-only Composition.date cannot be an instant without inventing a
 * time. The `date` search and `_sort=date` follow it.
 */
export function documentDate(facts: DocumentFacts, createdAt: Date): string {
  for (const candidate of [facts.date, facts.timestamp]) {
    if (candidate !== undefined && INSTANT.test(candidate) && !Number.isNaN(Date.parse(candidate))) {
      return candidate;
    }
  }
  return createdAt.toISOString();
}

function base64Sha1(sha1: string): string {
  return /^[0-9a-f]{40}$/i.test(sha1) ? Buffer.from(sha1, 'hex').toString('base64') : sha1;
}

function preferredIdentifier(author: DocumentAuthor): Identifier | undefined {
  if (author.odsCode) {
    return { system: ODS_ORGANIZATION_SYSTEM, value: author.odsCode };
  }
  return author.identifiers.find((i) => i.system !== undefined) ?? author.identifiers[0];
}

function authorReference(author: DocumentAuthor): Record<string, unknown> {
  const identifier = preferredIdentifier(author);
  return {
    type: author.resourceType,
    ...(identifier ? { identifier } : {}),
    ...(author.display ? { display: author.display } : {}),
  };
}

/**
 * Builds the R4 DocumentReference (version 1) that indexes a stored document Bundle. The authors, custodian and
 * patient stay inside the Bundle, so they are referenced by identifier and display, the way NRL pointers do; a
 * document without custodian gets none, and a Patient without identifiers gives a subject with only a display.
 * relatesTo is left to the registry service, which resolves the targets.
 */
export function buildDocumentReference(facts: DocumentFacts, stored: StoredDocument): FhirResource {
  const attachment: Record<string, unknown> = {
    contentType: stored.contentType,
    ...(facts.language ? { language: facts.language } : {}),
    url: stored.bundleUrl,
    size: stored.size,
    ...(stored.sha1 ? { hash: base64Sha1(stored.sha1) } : {}),
    title: facts.title,
    creation: facts.date,
  };
  // The Patient lives only in the Bundle: the subject is its NHS number (else first) identifier, never a reference.
  const patient = facts.subject.identifier;
  const context: Record<string, unknown> = {};
  if (facts.encounter?.identifier) {
    context.encounter = [{ type: 'Encounter', identifier: facts.encounter.identifier }];
  }
  if (facts.period) {
    context.period = facts.period;
  }
  if (facts.facilityType) {
    context.facilityType = facts.facilityType;
  }
  if (facts.practiceSetting) {
    context.practiceSetting = facts.practiceSetting;
  }
  if (patient) {
    context.sourcePatientInfo = { identifier: patient };
  }

  const securityLabel = [...(facts.confidentiality ? [facts.confidentiality] : []), ...facts.securityLabels].map(
    (coding) => ({ coding: [coding] }),
  );
  const custodian = facts.custodian;
  const custodianIdentifier = custodian?.odsCode
    ? { system: ODS_ORGANIZATION_SYSTEM, value: custodian.odsCode }
    : custodian?.identifiers[0];
  const docStatus = DOC_STATUS[facts.compositionStatus];

  return {
    resourceType: 'DocumentReference',
    id: stored.id,
    meta: { versionId: '1', lastUpdated: stored.createdAt.toISOString() },
    masterIdentifier: { system: facts.identifier.system, value: facts.identifier.value },
    status: 'current',
    ...(docStatus ? { docStatus } : {}),
    type: facts.type,
    ...(facts.category.length > 0 ? { category: facts.category } : {}),
    ...(patient || facts.subject.display
      ? {
          subject: {
            ...(patient ? { identifier: patient } : {}),
            ...(facts.subject.display ? { display: facts.subject.display } : {}),
          },
        }
      : {}),
    date: documentDate(facts, stored.createdAt),
    ...(facts.authors.length > 0 ? { author: facts.authors.map(authorReference) } : {}),
    ...(custodian
      ? {
          custodian: {
            type: 'Organization',
            ...(custodianIdentifier ? { identifier: custodianIdentifier } : {}),
            ...(custodian.display ? { display: custodian.display } : {}),
          },
        }
      : {}),
    ...(facts.description ? { description: facts.description } : {}),
    ...(securityLabel.length > 0 ? { securityLabel } : {}),
    content: [{ attachment, format: DOCUMENT_FORMAT }],
    context,
  };
}
