import { FhirError } from '../common/fhir-error.js';
import { auditVisibility, dateRange, parseAuditSearch } from './audit-search.js';

const refused = (query: Record<string, unknown>) => {
  try {
    parseAuditSearch(query);
  } catch (error) {
    return error instanceof FhirError ? error.status : error;
  }
  return 'accepted';
};

describe('dateRange', () => {
  it('treats a value as the implicit range of its precision', () => {
    expect(dateRange('2024')).toEqual({ lo: Date.UTC(2024, 0, 1), hi: Date.UTC(2025, 0, 1) });
    expect(dateRange('2024-02')).toEqual({ lo: Date.UTC(2024, 1, 1), hi: Date.UTC(2024, 2, 1) });
    expect(dateRange('2024-12-31')).toEqual({ lo: Date.UTC(2024, 11, 31), hi: Date.UTC(2025, 0, 1) });
    expect(dateRange('2024-05-01T10:00Z')).toEqual({ lo: Date.UTC(2024, 4, 1, 10), hi: Date.UTC(2024, 4, 1, 10, 1) });
    expect(dateRange('2024-05-01T10:00:05+01:00')).toEqual({
      lo: Date.UTC(2024, 4, 1, 9, 0, 5),
      hi: Date.UTC(2024, 4, 1, 9, 0, 6),
    });
    expect(dateRange('2024-05-01T10:00:05.250Z').hi - dateRange('2024-05-01T10:00:05.250Z').lo).toBe(1);
  });

  it('refuses a time without a zone and values that are not dates', () => {
    expect(() => dateRange('2024-05-01T10:00')).toThrow(/time zone/);
    expect(() => dateRange('yesterday')).toThrow(FhirError);
    expect(() => dateRange('2024-13-01')).toThrow(FhirError);
  });
});

describe('parseAuditSearch', () => {
  it('reads every supported parameter', () => {
    const search = parseAuditSearch({
      'patient.identifier': 'https://fhir.nhs.uk/Id/nhs-number|9434765919',
      agent: 'https://fhir.nhs.uk/Id/ods-organization-code|RTG,user-1',
      entity: 'DocumentReference/1',
      action: 'R,E',
      date: ['ge2024-01-01', 'lt2024-02-01'],
      _count: '10',
    });
    expect(search).toEqual({
      patientNhsNumbers: ['9434765919'],
      agents: [{ kind: 'organization', value: 'RTG' }, { value: 'user-1' }],
      entities: ['DocumentReference/1'],
      actions: ['R', 'E'],
      recorded: [{ from: Date.UTC(2024, 0, 1) }, { to: Date.UTC(2024, 1, 1) }],
      count: 10,
    });
  });

  it('maps the date prefixes onto the implicit range', () => {
    const day = { lo: Date.UTC(2024, 0, 1), hi: Date.UTC(2024, 0, 2) };
    const recorded = (value: string) => parseAuditSearch({ date: value }).recorded[0];
    expect(recorded('2024-01-01')).toEqual({ from: day.lo, to: day.hi });
    expect(recorded('eq2024-01-01')).toEqual({ from: day.lo, to: day.hi });
    expect(recorded('gt2024-01-01')).toEqual({ from: day.hi });
    expect(recorded('le2024-01-01')).toEqual({ to: day.hi });
    expect(recorded('lt2024-01-01')).toEqual({ to: day.lo });
    expect(recorded('ne2024-01-01')).toEqual({ from: day.lo, to: day.hi, outside: true });
  });

  it('defaults _count to 50 and caps it at 500', () => {
    expect(parseAuditSearch({}).count).toBe(50);
    expect(parseAuditSearch({ _count: '100000' }).count).toBe(500);
  });

  it('refuses unknown parameters, bad values and repeated single parameters with 400', () => {
    expect(refused({ patient: 'x' })).toBe(400);
    expect(refused({ 'patient.identifier': 'http://other|9434765919' })).toBe(400);
    expect(refused({ 'patient.identifier': '12345' })).toBe(400);
    expect(refused({ action: 'X' })).toBe(400);
    expect(refused({ _count: '-1' })).toBe(400);
    expect(refused({ agent: ['a', 'b'] })).toBe(400);
    expect(refused({ date: 'soon' })).toBe(400);
  });
});

describe('auditVisibility', () => {
  it('shows an admin everything, anyone else only their organisation, and a token with neither nothing', () => {
    expect(auditVisibility({ admin: true })).toEqual({ kind: 'all' });
    expect(auditVisibility({ admin: true, organization: 'RTG' })).toEqual({ kind: 'all' });
    expect(auditVisibility({ admin: false, organization: 'RTG' })).toEqual({ kind: 'organization', ods: 'RTG' });
    expect(() => auditVisibility({ admin: false })).toThrow(/organization claim/);
  });
});
