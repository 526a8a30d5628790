import { isValidNhsNumber, NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM, ODS_SITE_SYSTEM } from './nhs-number.js';

describe('isValidNhsNumber', () => {
  it.each(['9434765919', '9657702070', '6700028191'])('accepts %s, whose check digit is right', (value) => {
    expect(isValidNhsNumber(value)).toBe(true);
  });

  it.each(['1352465790', '9876543211', '9434765918'])('rejects %s, whose check digit is wrong', (value) => {
    expect(isValidNhsNumber(value)).toBe(false);
  });

  it('accepts a number whose remainder gives check digit 0 (11 - 0 = 11)', () => {
    // 401023208: weighted sum 99 = 9 * 11
    expect(isValidNhsNumber('4010232080')).toBe(true);
    expect(isValidNhsNumber('4010232081')).toBe(false);
  });

  it('rejects nine digits whose check value would be 10, whatever the last digit', () => {
    // 1000000010 -> sum 10*1 + 2*1 = 12 -> 12 mod 11 = 1 -> check 10
    for (let last = 0; last <= 9; last++) {
      expect(isValidNhsNumber(`100000001${last}`)).toBe(false);
    }
  });

  it.each([
    '',
    '943476591',
    '94347659190',
    '943 476 5919',
    '943-476-5919',
    '94347659l9',
    ' 9434765919',
    '９４３４７６５９１９',
  ])('rejects %j, which is not exactly ten ASCII digits', (value) => {
    expect(isValidNhsNumber(value)).toBe(false);
  });
});

describe('identifier systems', () => {
  it('are the NHS URIs', () => {
    expect(NHS_NUMBER_SYSTEM).toBe('https://fhir.nhs.uk/Id/nhs-number');
    expect(ODS_ORGANIZATION_SYSTEM).toBe('https://fhir.nhs.uk/Id/ods-organization-code');
    expect(ODS_SITE_SYSTEM).toBe('https://fhir.nhs.uk/Id/ods-site-code');
  });
});
