import { FhirError } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import type { DocumentRelation } from './document-bundle.js';
import { securityLabelIssues } from './document-lifecycle.js';
import type { FhirResource } from '../format/fhir-json.js';
import { isValidNhsNumber, NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';
import { relationsOf } from './write-plan.js';

interface Identifier {
  system?: string;
  value?: string;
}

export interface ValidPointer {
  resource: FhirResource;
  nhsNumber: string;
  custodianOds: string;
  masterIdentifier?: { system?: string; value: string };
  content: { entry: Record<string, unknown> & { attachment?: Record<string, unknown> }; binaryId?: string }[];
  relations: DocumentRelation[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * NRL pointer rules for POST /fhir/DocumentReference: a subject with a valid NHS number, a type, an ODS-coded
 * custodian, and content whose attachment.url is absolute https or a Binary of this server.
 */
export function validatePointer(resource: FhirResource, baseUrl: string): ValidPointer {
  const issues: OutcomeIssue[] = [];
  const error = (code: OutcomeIssue['code'], diagnostics: string, expression: string) =>
    issues.push({ severity: 'error', code, diagnostics, expression: [expression] });

  if (resource.resourceType !== 'DocumentReference') {
    throw new FhirError(400, 'invalid', `Expected a DocumentReference, got ${resource.resourceType}`);
  }
  if (resource.status !== undefined && resource.status !== 'current') {
    error(
      'business-rule',
      `A new pointer must have status current, not ${JSON.stringify(resource.status)}`,
      'DocumentReference.status',
    );
  }

  const subject = isRecord(resource.subject) ? resource.subject : undefined;
  const subjectId = isRecord(subject?.identifier) ? (subject.identifier as Identifier) : undefined;
  const nhsNumber = subjectId?.system === NHS_NUMBER_SYSTEM ? subjectId.value : undefined;
  if (!nhsNumber) {
    error(
      'required',
      `subject.identifier must carry an NHS number (system ${NHS_NUMBER_SYSTEM})`,
      'DocumentReference.subject.identifier',
    );
  } else if (!isValidNhsNumber(nhsNumber)) {
    error(
      'value',
      `NHS number '${nhsNumber}' is not valid: its modulus 11 check digit fails`,
      'DocumentReference.subject.identifier.value',
    );
  }

  const type = isRecord(resource.type) ? resource.type : undefined;
  const typed =
    Array.isArray(type?.coding) && (type.coding as Record<string, unknown>[]).some((c) => typeof c.code === 'string');
  if (!typed) {
    error(
      'required',
      'type is required: a coded document type (e.g. SNOMED CT 373942005 Discharge summary)',
      'DocumentReference.type',
    );
  }

  const custodian = isRecord(resource.custodian) ? resource.custodian : undefined;
  const custodianId = isRecord(custodian?.identifier) ? (custodian.identifier as Identifier) : undefined;
  const custodianOds = custodianId?.system === ODS_ORGANIZATION_SYSTEM ? custodianId.value : undefined;
  if (!custodianOds) {
    error(
      'required',
      `custodian.identifier must carry an ODS code (system ${ODS_ORGANIZATION_SYSTEM})`,
      'DocumentReference.custodian.identifier',
    );
  }

  const contents = Array.isArray(resource.content) ? (resource.content as unknown[]) : [];
  if (contents.length === 0) {
    error('required', 'content is required: at least one attachment with a url', 'DocumentReference.content');
  }
  const content: ValidPointer['content'] = [];
  contents.forEach((entry, index) => {
    const at = `DocumentReference.content[${index}].attachment.url`;
    const attachment = isRecord(entry) && isRecord(entry.attachment) ? entry.attachment : undefined;
    const url = typeof attachment?.url === 'string' ? attachment.url : undefined;
    if (!url) {
      error('required', 'attachment.url is required', at);
      return;
    }
    const binaryId = localBinaryId(url, baseUrl);
    if (binaryId) {
      content.push({ entry: entry as ValidPointer['content'][number]['entry'], binaryId });
      return;
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== 'https:') {
      error('value', `attachment.url must be an absolute https URL or a Binary of this server, got "${url}"`, at);
      return;
    }
    content.push({ entry: entry as ValidPointer['content'][number]['entry'] });
  });

  issues.push(...securityLabelIssues(resource.securityLabel));

  if (issues.length > 0) {
    throw new FhirError(422, issues[0].code, issues[0].diagnostics, { issues });
  }
  const master = isRecord(resource.masterIdentifier) ? (resource.masterIdentifier as Identifier) : undefined;
  return {
    resource,
    nhsNumber: nhsNumber!,
    custodianOds: custodianOds!,
    masterIdentifier: master?.value ? { system: master.system, value: master.value } : undefined,
    content,
    relations: relationsOf(resource),
  };
}

/** The id of a Binary of this server an attachment URL names (relative or under BASE_URL), else undefined. */
export function localBinaryId(url: string, baseUrl: string): string | undefined {
  const relative = /^Binary\/([A-Za-z0-9-]{1,64})$/.exec(url);
  if (relative) {
    return relative[1];
  }
  const prefix = `${baseUrl}/fhir/Binary/`;
  return url.startsWith(prefix) && /^[A-Za-z0-9-]{1,64}$/.test(url.slice(prefix.length))
    ? url.slice(prefix.length)
    : undefined;
}
