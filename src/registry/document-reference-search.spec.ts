import { FhirError } from '../common/fhir-error.js';
import { DOCUMENT_REFERENCE_SEARCH_PARAMS } from '../fhir/capabilities.js';
import {
  dateRange,
  normalizeText,
  parseCriteria,
  parseDateValue,
  parseSearch,
  parseTokenValue,
  periodBounds,
  SEARCH_PARAMETERS,
} from './document-reference-search.js';
import { encodeCursor } from './search-cursor.js';

const iso = (ms: number) => new Date(ms).toISOString();
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

describe('dateRange (FHIR precision)', () => {
  it.each([
    ['2024', '2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'],
    ['2024-03', '2024-03-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z'],
    ['2024-12', '2024-12-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
    ['2024-03-08T16:20', '2024-03-08T16:20:00.000Z', '2024-03-08T16:21:00.000Z'],
    ['2024-03-08T16:20:05Z', '2024-03-08T16:20:05.000Z', '2024-03-08T16:20:06.000Z'],
    ['2024-03-08T16:20:05+01:00', '2024-03-08T15:20:05.000Z', '2024-03-08T15:20:06.000Z'],
    ['2024-03-08T16:20:05.5Z', '2024-03-08T16:20:05.500Z', '2024-03-08T16:20:05.600Z'],
    ['2024-03-08T16:20:05.123456Z', '2024-03-08T16:20:05.123Z', '2024-03-08T16:20:05.124Z'],
  ])('%s covers [%s, %s)', (value, low, high) => {
    const range = dateRange(value)!;
    expect([iso(range.low), iso(range.high)]).toEqual([low, high]);
  });

  it.each(['2024-13', '2023-02-29', '2024-03-08T25:00', '24-03', '2024-3', 'March', '2024-03-08T10:00+15:00'])(
    'refuses %s',
    (value) => {
      expect(dateRange(value)).toBeUndefined();
    },
  );
});

describe('parseDateValue', () => {
  it('reads the prefix and defaults to eq', () => {
    expect(parseDateValue('ge2024-03', 0)).toMatchObject({ prefix: 'ge', low: Date.parse('2024-03-01T00:00:00Z') });
    expect(parseDateValue('2024', 0)).toMatchObject({ prefix: 'eq' });
    expect(parseDateValue('xx2024', 0)).toBeUndefined();
    expect(parseDateValue('2024-03-08T17:25 01:00', 0)).toMatchObject({ low: Date.parse('2024-03-08T16:25:00Z') });
  });

  it('widens ap by 10% of the gap between the value and now', () => {
    const now = Date.parse('2024-11-01T00:00:00Z');
    const day = Date.parse('2024-01-01T00:00:00Z');
    const slack = (now - day) / 10;
    expect(parseDateValue('ap2024-01-01', now)).toEqual({
      prefix: 'ap',
      low: day - slack,
      high: day + 86_400_000 + slack,
    });
  });
});

describe('periodBounds', () => {
  it('is inclusive at both ends and stretches open ends', () => {
    expect(periodBounds({ start: '2024-03-02', end: '2024-03-08' })).toEqual({
      low: Date.parse('2024-03-02T00:00:00Z'),
      high: Date.parse('2024-03-09T00:00:00Z') - 1,
    });
    expect(periodBounds({ start: '2024-03-02' })!.high).toBeGreaterThan(Date.parse('9999-01-01'));
    expect(periodBounds({ end: '2024' })!.low).toBeLessThan(Date.parse('0001-01-01'));
    expect(periodBounds({ start: 'soon' })).toBeUndefined();
  });
});

describe('parseTokenValue', () => {
  it.each([
    ['373942005', { code: '373942005' }],
    ['http://snomed.info/sct|373942005', { system: 'http://snomed.info/sct', code: '373942005' }],
    ['|373942005', { system: null, code: '373942005' }],
    ['http://snomed.info/sct|', { system: 'http://snomed.info/sct' }],
    ['a\\|b|c\\,d', { system: 'a|b', code: 'c,d' }],
  ])('%s', (value, token) => {
    expect(parseTokenValue(value)).toEqual(token);
  });

  it('refuses a lone bar', () => {
    expect(parseTokenValue('|')).toBeUndefined();
  });
});

describe('normalizeText', () => {
  it('folds case and accents', () => {
    expect(normalizeText('Ökafor-Émile')).toBe('okafor-emile');
  });
});

describe('parseSearch', () => {
  it('accepts exactly the parameters the CapabilityStatement declares', () => {
    expect(Object.keys(SEARCH_PARAMETERS).sort()).toEqual(DOCUMENT_REFERENCE_SEARCH_PARAMS.map((p) => p.name).sort());
  });

  it('ANDs repeated parameters and ORs comma-separated values', () => {
    const plan = parseSearch([
      ['type', 'http://snomed.info/sct|373942005,|x'],
      ['date', 'ge2024-01'],
      ['date', 'lt2025'],
    ]);
    expect(plan.clauses).toEqual([
      {
        kind: 'token',
        param: 'type',
        not: false,
        values: [
          { system: 'http://snomed.info/sct', code: '373942005' },
          { system: null, code: 'x' },
        ],
      },
      {
        kind: 'date',
        target: 'date',
        values: [{ prefix: 'ge', low: Date.parse('2024-01-01T00:00:00Z'), high: Date.parse('2024-02-01T00:00:00Z') }],
      },
      {
        kind: 'date',
        target: 'date',
        values: [{ prefix: 'lt', low: Date.parse('2025-01-01T00:00:00Z'), high: Date.parse('2026-01-01T00:00:00Z') }],
      },
    ]);
    expect(plan.issues).toEqual([]);
  });

  it('uses the indexed NHS number column when every value is an NHS number, else the token table', () => {
    expect(parseSearch([['patient.identifier', `${NHS}|9434765919,${NHS}|9000000009`]]).clauses).toEqual([
      { kind: 'nhs-number', values: ['9434765919', '9000000009'] },
    ]);
    expect(parseSearch([['subject.identifier', '9434765919']]).clauses).toEqual([
      { kind: 'token', param: 'patient.identifier', values: [{ code: '9434765919' }], not: false },
    ]);
    expect(parseSearch([['patient:identifier', `${NHS}|1`]]).clauses[0]).toMatchObject({
      kind: 'token',
      param: 'patient.identifier',
    });
  });

  it('reads references as Type/id, bare ids and absolute URLs on this server', () => {
    const plan = parseSearch(
      [
        ['patient', 'https://registry.example/fhir/Patient/p1'],
        ['relatesto', 'd1'],
        ['subject', 'Group/g1'],
      ],
      { baseUrl: 'https://registry.example' },
    );
    expect(plan.clauses).toEqual([
      { kind: 'token', param: 'subject', values: [{ code: 'Patient/p1' }], not: false },
      { kind: 'token', param: 'relatesto', values: [{ code: 'DocumentReference/d1' }], not: false },
      { kind: 'token', param: 'subject', values: [{ code: 'Group/g1' }], not: false },
    ]);
    expect(() => parseSearch([['patient', 'Group/g1']])).toThrow(/not a reference to Patient/);
  });

  it('reads string modifiers and token :not', () => {
    expect(parseSearch([['author.family:contains', 'kaf']]).clauses[0]).toEqual({
      kind: 'string',
      param: 'author.family',
      match: 'contains',
      values: ['kaf'],
    });
    expect(parseSearch([['category:not', 'x']]).clauses[0]).toMatchObject({ kind: 'token', not: true });
    expect(parseSearch([['status', 'http://other|current']]).clauses[0]).toEqual({ kind: 'none' });
  });

  it('applies result parameters', () => {
    const plan = parseSearch([
      ['_count', '7'],
      ['_sort', '-_lastUpdated'],
      ['_total', 'none'],
    ]);
    expect(plan).toMatchObject({
      count: 7,
      sort: { key: '_lastUpdated', descending: true },
      total: 'none',
      totalOnly: false,
    });
    expect(parseSearch([]).sort).toEqual({ key: 'date', descending: true });
    expect(parseSearch([['_count', '0']]).totalOnly).toBe(true);
    expect(parseSearch([['_summary', 'count']]).totalOnly).toBe(true);
    const big = parseSearch([['_count', '9000']]);
    expect(big.count).toBe(500);
    expect(big.issues[0]).toMatchObject({ severity: 'information' });
  });

  it('reports _include as not available instead of failing, even when strict', () => {
    const plan = parseSearch([['_include', 'DocumentReference:subject']], { strict: true });
    expect(plan.issues).toEqual([expect.objectContaining({ severity: 'information', expression: ['_include'] })]);
    expect(plan.issues[0].diagnostics).toMatch(/not available/);
  });

  it('ignores and reports unknown parameters, bad modifiers and malformed result parameters by default', () => {
    const plan = parseSearch([
      ['foo', 'bar'],
      ['type:text', 'discharge'],
      ['_count', '-1'],
      ['_sort', 'title'],
      ['status', 'current'],
    ]);
    expect(plan.clauses).toEqual([{ kind: 'status', codes: ['current'], not: false }]);
    expect(plan.issues.map((i) => i.expression![0])).toEqual(['foo', 'type:text', '_count', '_sort']);
    expect(plan.issues.every((i) => i.severity === 'warning')).toBe(true);
    expect(plan.used).toEqual([['status', 'current']]);
    expect(plan.count).toBe(20);
  });

  it('refuses a malformed value of a supported filter even when lenient: dropping it would widen the result', () => {
    expect.assertions(3);
    try {
      parseSearch([
        ['foo', 'bar'],
        ['date', '2024-13'],
        ['status', 'current'],
      ]);
    } catch (error) {
      expect(error).toBeInstanceOf(FhirError);
      expect((error as FhirError).status).toBe(400);
      expect((error as FhirError).message).toMatch(/^date=2024-13: /);
    }
  });

  it('refuses with 400 naming the parameter under Prefer: handling=strict', () => {
    expect.assertions(3);
    try {
      parseSearch(
        [
          ['status', 'current'],
          ['foo', 'bar'],
        ],
        { strict: true },
      );
    } catch (error) {
      expect(error).toBeInstanceOf(FhirError);
      expect((error as FhirError).status).toBe(400);
      expect((error as FhirError).message).toMatch(/foo/);
    }
  });

  it('refuses a cursor that is not ours or was made for another sort, even when lenient', () => {
    expect(() => parseSearch([['_cursor', 'nope']])).toThrow(FhirError);
    const cursor = encodeCursor({ sort: '-date', key: 1, id: 'a', direction: 'next' });
    expect(parseSearch([['_cursor', cursor]]).cursor).toEqual({ sort: '-date', key: 1, id: 'a', direction: 'next' });
    expect(() =>
      parseSearch([
        ['_cursor', cursor],
        ['_sort', 'date'],
      ]),
    ).toThrow(/not a cursor of this search/);
  });
});

describe('parseCriteria', () => {
  it('parses Subscription criteria with the search parser', () => {
    expect(parseCriteria(`DocumentReference?patient.identifier=${NHS}|9434765919&type=373942005`).clauses).toHaveLength(
      2,
    );
    expect(parseCriteria('DocumentReference').clauses).toEqual([]);
  });

  it.each([
    ['Patient?x=1', /DocumentReference\?/],
    ['DocumentReference?colour=red', /colour/],
    ['DocumentReference?date=2024-13', /date/],
    ['DocumentReference?type=a&_count=5', /_count/],
  ])('refuses %s with 422 naming the parameter', (criteria, message) => {
    expect.assertions(2);
    try {
      parseCriteria(criteria);
    } catch (error) {
      expect((error as FhirError).status).toBe(422);
      expect((error as FhirError).message).toMatch(message);
    }
  });
});
