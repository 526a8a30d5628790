import { parseScopes } from '../auth/smart-scopes.js';
import { parseCriteria } from '../registry/document-reference-search.js';
import {
  allowsDisclosure,
  grantRefusal,
  ownDocumentCriteria,
  reachViolation,
  recipientViolation,
} from './subscription-policy.js';

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const plan = (criteria: string) => parseCriteria(criteria);

describe('subscription policy', () => {
  it.each([
    ['system/DocumentReference.rs', true],
    ['system/DocumentReference.cruds', true],
    ['system/*.cruds', true],
    ['user/DocumentReference.read', true],
    ['system/DocumentReference.r system/DocumentReference.s', true],
    ['system/Subscription.cruds', false],
    ['system/DocumentReference.r', false],
    ['system/DocumentReference.s', false],
    ['patient/DocumentReference.rs', false],
    ['system/DocumentReference.rs?category=x', false],
    ['admin', false],
  ])('treats %s as allowing disclosure: %s', (scope, expected) => {
    expect(allowsDisclosure(parseScopes(scope))).toBe(expected);
  });

  it('refuses delivery for a missing or insufficient stored grant, naming the scope needed', () => {
    expect(grantRefusal(null)).toContain('system/DocumentReference.rs');
    expect(grantRefusal('system/Subscription.cruds')).toContain('system/DocumentReference.rs');
    expect(grantRefusal('')).toContain('system/DocumentReference.rs');
    expect(grantRefusal('system/Subscription.cruds system/DocumentReference.rs')).toBeUndefined();
  });

  it.each([
    `DocumentReference?recipient=${ODS}|Y77777`,
    'DocumentReference?recipient=Y77777',
    'DocumentReference?custodian.identifier=Y77777&status=current',
    `DocumentReference?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919&custodian.identifier=${ODS}|Y77777`,
    `DocumentReference?custodian.identifier=${ODS}|RTG&recipient=${ODS}|Y77777`,
  ])('keeps %s within the organisation', (criteria) => {
    expect(reachViolation(plan(criteria), 'Y77777', false)).toBeUndefined();
  });

  it.each([
    'DocumentReference?status=current',
    'DocumentReference?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919',
    `DocumentReference?custodian.identifier=${ODS}|RTG`,
    `DocumentReference?custodian.identifier=${ODS}|Y77777,${ODS}|RTG`,
    `DocumentReference?custodian.identifier:not=${ODS}|Y77777`,
    'DocumentReference?custodian.identifier=https://example.org/other|Y77777',
    'DocumentReference?custodian.identifier=|Y77777',
    'DocumentReference?author.identifier=Y77777',
  ])('finds that %s reaches beyond the organisation unless it is patient-wide', (criteria) => {
    expect(reachViolation(plan(criteria), 'Y77777', false)).toMatch(/addressed to it.*held by it/);
    expect(reachViolation(plan(criteria), 'Y77777', true)).toBeUndefined();
  });

  it("refuses a recipient criterion naming another organisation's code", () => {
    expect(recipientViolation(plan('DocumentReference?recipient=Y12345'), 'Y77777')).toContain('Y77777');
    expect(recipientViolation(plan('DocumentReference?recipient:not=Y77777'), 'Y77777')).toBeDefined();
    expect(recipientViolation(plan(`DocumentReference?recipient=${ODS}|Y77777`), 'Y77777')).toBeUndefined();
  });

  it('matches documents addressed to or held by an organisation with the search parser', () => {
    const [addressed, held] = ownDocumentCriteria('Y77777');
    expect(plan(addressed).clauses).toEqual([
      { kind: 'token', param: 'recipient', values: [{ system: ODS, code: 'Y77777' }], not: false },
    ]);
    expect(plan(held).clauses).toEqual([
      { kind: 'token', param: 'custodian.identifier', values: [{ system: ODS, code: 'Y77777' }], not: false },
    ]);
  });
});
