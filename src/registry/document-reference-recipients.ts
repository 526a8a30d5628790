import { ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';
import type { FhirResource } from '../format/fhir-json.js';

/**
 * Who a document is addressed to (the patient's registered GP, ITK information recipients, the MHD
 * SubmissionSet's intended recipients), kept on the DocumentReference so the `recipient` search and
 * subscriptions can find it.
 */
export const RECIPIENT_EXTENSION = 'urn:fhir-document-registry:recipient';

interface Extension {
  url?: string;
  valueReference?: { identifier?: { system?: string; value?: string } };
}

/** Adds the recipient extension (one per ODS code, de-duplicated) to a DocumentReference. */
export function withRecipients<T extends FhirResource>(resource: T, odsCodes: string[]): T {
  const codes = [...new Set(odsCodes.filter(Boolean))];
  if (codes.length === 0) {
    return resource;
  }
  const existing = Array.isArray(resource.extension) ? (resource.extension as Extension[]) : [];
  return {
    ...resource,
    extension: [
      ...existing,
      ...codes.map((value) => ({
        url: RECIPIENT_EXTENSION,
        valueReference: { type: 'Organization', identifier: { system: ODS_ORGANIZATION_SYSTEM, value } },
      })),
    ],
  };
}

export function recipientsOf(resource: FhirResource): string[] {
  const extensions = Array.isArray(resource.extension) ? (resource.extension as Extension[]) : [];
  return extensions
    .filter((e) => e.url === RECIPIENT_EXTENSION)
    .map((e) => e.valueReference?.identifier?.value)
    .filter((v): v is string => Boolean(v));
}
