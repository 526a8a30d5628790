/** FHIR identifier system of the NHS number (England, Wales and the Isle of Man). */
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';

/** FHIR identifier system of ODS organisation codes; STU3 CareConnect documents use the same URI. */
export const ODS_ORGANIZATION_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

/** FHIR identifier system of ODS site codes, used by STU3 CareConnect documents for sites of an organisation. */
export const ODS_SITE_SYSTEM = 'https://fhir.nhs.uk/Id/ods-site-code';

const TEN_DIGITS = /^[0-9]{10}$/;

/**
 * Whether `value` is a well-formed NHS number: exactly ten digits (no spaces, as FHIR identifiers carry them) whose
 * last digit is the modulus 11 check digit of the first nine (NHS Data Dictionary, weights 10 down to 2).
 */
export function isValidNhsNumber(value: string): boolean {
  if (!TEN_DIGITS.test(value)) {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < 9; i++) {
    sum += Number(value[i]) * (10 - i);
  }
  const check = 11 - (sum % 11);
  // 11 means a check digit of 0; 10 means no number with these nine digits is ever issued.
  const expected = check === 11 ? 0 : check;
  return expected !== 10 && expected === Number(value[9]);
}
