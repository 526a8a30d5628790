import { CliError } from './errors.js';
import { parseNhsNumber, readSearchPage, searchPath } from './search.js';

describe('parseNhsNumber', () => {
  it('accepts a valid number as people write it', () => {
    expect(parseNhsNumber('943 476 5919')).toBe('9434765919');
    expect(parseNhsNumber('943-476-5919')).toBe('9434765919');
  });

  it.each(['9434765918', '943476591', 'abcdefghij', ''])('refuses %p as a usage error (exit 2)', (raw) => {
    expect(() => parseNhsNumber(raw)).toThrow(CliError);
    try {
      parseNhsNumber(raw);
    } catch (error) {
      expect((error as CliError).exitCode).toBe(2);
    }
  });
});

describe('searchPath', () => {
  it('asks for the patient by NHS number system and value, encoded', () => {
    expect(searchPath('9434765919', 20, 'current')).toBe(
      'DocumentReference?patient.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&_count=20&status=current',
    );
  });
});

describe('readSearchPage', () => {
  const base = 'http://registry.example/fhir';
  const page = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 3,
    link: [
      { relation: 'self', url: `${base}/DocumentReference?x` },
      { relation: 'next', url: `${base}/DocumentReference?cursor=abc` },
    ],
    entry: [
      {
        resource: {
          resourceType: 'DocumentReference',
          id: 'dr-1',
          status: 'current',
          date: '2024-03-08T16:20:00+00:00',
          type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }] },
          custodian: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' } },
          content: [{ attachment: { url: `${base}/Bundle/b-1` } }],
        },
      },
      {
        resource: {
          resourceType: 'DocumentReference',
          id: 'dr-2',
          status: 'entered-in-error',
          type: { coding: [{ code: '1234' }] },
          custodian: { display: 'A trust' },
          content: [{ attachment: { url: 'https://elsewhere.example/doc.pdf' } }],
        },
      },
      {
        resource: {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'warning', diagnostics: 'Unknown parameter x' }],
        },
        search: { mode: 'outcome' },
      },
    ],
  };

  it('makes one row per DocumentReference and keeps the next link and the notes', () => {
    expect(readSearchPage(page, base)).toEqual({
      rows: [
        ['2024-03-08T16:20:00+00:00', 'Discharge summary', 'current', 'RTG', 'dr-1', 'Bundle/b-1'],
        ['', '1234', 'entered-in-error', 'A trust', 'dr-2', 'https://elsewhere.example/doc.pdf'],
      ],
      next: `${base}/DocumentReference?cursor=abc`,
      total: 3,
      notes: ['Unknown parameter x'],
    });
  });

  it('copes with an empty or malformed page', () => {
    expect(readSearchPage({ resourceType: 'Bundle', entry: 'nonsense' }, base)).toEqual({
      rows: [],
      next: undefined,
      total: undefined,
      notes: [],
    });
    expect(readSearchPage(null, base).rows).toEqual([]);
  });
});
