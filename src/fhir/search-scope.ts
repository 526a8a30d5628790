import { FhirError } from '../common/fhir-error.js';

/** Parameters that say whose documents a search wants (IHE ITI-67 requires the patient). */
const IDENTIFYING = ['patient', 'patient.identifier', 'subject', 'subject.identifier', '_id', 'identifier'];
const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

/**
 * A DocumentReference or List search must name whose records it wants: a patient (`patient`, `patient.identifier`,
 * `subject`, `subject.identifier`), ids or identifiers (`_id`, `identifier`), or, for a GP practice, `recipient` with
 * its own ODS code. A mistyped parameter would otherwise drop the only filter and answer every patient's documents.
 * Refused with 400 whatever the handling preference. `:not` does not name anyone; `:identifier` does.
 */
export function requireSearchScope(
  params: [string, string][],
  callerOds: string | undefined,
  resourceType: string,
): void {
  for (const [rawName, value] of params) {
    if (value.trim() === '') {
      continue;
    }
    const [name, modifier] = rawName.split(':');
    if (IDENTIFYING.includes(name) && (modifier === undefined || modifier === 'identifier' || modifier === 'Patient')) {
      return;
    }
    if (name === 'recipient' && modifier === undefined && callerOds && ownCodeOnly(value, callerOds)) {
      return;
    }
  }
  throw new FhirError(
    400,
    'required',
    `A ${resourceType} search must say whose records it wants: give patient, patient.identifier, subject, ` +
      `subject.identifier, _id or identifier, or recipient with your own ODS code${callerOds ? ` (${callerOds})` : ''}`,
  );
}

function ownCodeOnly(value: string, ods: string): boolean {
  return value.split(',').every((item) => {
    const bar = item.indexOf('|');
    const system = bar < 0 ? undefined : item.slice(0, bar);
    const code = bar < 0 ? item : item.slice(bar + 1);
    return (system === undefined || system === ODS_SYSTEM) && code === ods;
  });
}
