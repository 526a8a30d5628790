import type { AuditContext } from './actor.js';
import { describeRequest, isAuditedRequest, isTallied, outcomeOf } from './request-audit.js';

const empty = (): AuditContext => ({ entities: [], patientNhsNumbers: [], custodianOrgs: [], recorded: false });

describe('isAuditedRequest', () => {
  it('audits everything under /fhir except the CapabilityStatement and preflights', () => {
    expect(isAuditedRequest('GET', '/fhir/DocumentReference?x=1')).toBe(true);
    expect(isAuditedRequest('POST', '/fhir')).toBe(true);
    expect(isAuditedRequest('GET', '/fhir/metadata')).toBe(false);
    expect(isAuditedRequest('GET', '/fhir/metadata?_format=json')).toBe(false);
    expect(isAuditedRequest('POST', '/fhir/metadata')).toBe(true);
    expect(isAuditedRequest('OPTIONS', '/fhir/Bundle')).toBe(false);
    expect(isAuditedRequest('GET', '/health/live')).toBe(false);
    expect(isAuditedRequest('GET', '/fhirish')).toBe(false);
  });
});

describe('outcomeOf', () => {
  it('maps 2xx/3xx to success, 4xx to minor and 5xx to serious failure', () => {
    expect([200, 201, 304, 400, 404, 500, 503].map(outcomeOf)).toEqual(['0', '0', '0', '4', '4', '8', '8']);
  });
});

describe('describeRequest', () => {
  it('reads a Bundle as ITI-68 with the Bundle as the document', () => {
    expect(describeRequest({ method: 'GET', url: '/fhir/Bundle/b1', statusCode: 200 }, empty())).toEqual({
      action: 'R',
      subtype: 'read',
      outcome: '0',
      entities: [{ reference: 'Bundle/b1', role: 'document' }],
      patientNhsNumbers: [],
      transaction: 'ITI-68',
    });
  });

  it('takes the created resource of a submission from the Location header', () => {
    const input = describeRequest(
      { method: 'POST', url: '/fhir/Bundle', statusCode: 201, location: 'http://h:1/fhir/Bundle/abc-123' },
      empty(),
    );
    expect(input).toMatchObject({ action: 'C', subtype: 'create', transaction: 'ITI-65' });
    expect(input.entities).toEqual([{ reference: 'Bundle/abc-123', role: 'document' }]);
  });

  it('records a DocumentReference search as ITI-67 with its query and the patient it names', () => {
    const url = `/fhir/DocumentReference?patient.identifier=${encodeURIComponent('https://fhir.nhs.uk/Id/nhs-number|9434765919')}`;
    const input = describeRequest({ method: 'GET', url, statusCode: 200 }, empty());
    expect(input).toMatchObject({
      action: 'E',
      subtype: 'search',
      transaction: 'ITI-67',
      patientNhsNumbers: ['9434765919'],
    });
    expect(input.entities).toEqual([{ role: 'query', reference: 'DocumentReference', query: url.split('?')[1] }]);
  });

  it('maps the methods to actions and subtypes', () => {
    const of = (method: string, url: string) => {
      const { action, subtype } = describeRequest({ method, url, statusCode: 200 }, empty());
      return `${action} ${subtype}`;
    };
    expect(of('GET', '/fhir/DocumentReference/1/_history/2')).toBe('R vread');
    expect(of('GET', '/fhir/DocumentReference/1/_history')).toBe('R history');
    expect(of('POST', '/fhir/DocumentReference/_search')).toBe('E search');
    expect(of('PUT', '/fhir/DocumentReference/1')).toBe('U update');
    expect(of('PATCH', '/fhir/DocumentReference/1')).toBe('U patch');
    expect(of('DELETE', '/fhir/DocumentReference/1')).toBe('D delete');
    expect(of('POST', '/fhir/DocumentReference/1/$withdraw')).toBe('E operation');
  });

  it('marks 401 as a login failure and 403 as forbidden, with the outcome text', () => {
    const login = describeRequest(
      { method: 'GET', url: '/fhir/Binary/1', statusCode: 401, outcomeText: 'no token' },
      empty(),
    );
    expect(login).toMatchObject({ subtype: 'login-failure', outcome: '4', outcomeDescription: 'no token' });
    const forbidden = describeRequest({ method: 'GET', url: '/fhir/Binary/1', statusCode: 403 }, empty());
    expect(forbidden).toMatchObject({ subtype: 'forbidden', outcome: '4', outcomeDescription: 'HTTP 403' });
  });

  it('adds what the handler put in the audit context, without repeating the path entity', () => {
    const context: AuditContext = {
      entities: [{ reference: 'Bundle/b1', role: 'document' }, { reference: 'DocumentReference/d1' }],
      patientNhsNumbers: ['9434765919'],
      custodianOrgs: ['RTG', 'RTG'],
      subtype: 'submit',
      recorded: false,
    };
    const input = describeRequest({ method: 'GET', url: '/fhir/Bundle/b1', statusCode: 200 }, context);
    expect(input.subtype).toBe('submit');
    expect(input.entities).toEqual([
      { reference: 'Bundle/b1', role: 'document' },
      { reference: 'DocumentReference/d1' },
    ]);
    expect(input.patientNhsNumbers).toEqual(['9434765919']);
    expect(input.custodianOrgs).toEqual(['RTG']);
  });

  it('takes the query of a POST _search from the handler, with every patient it names', () => {
    const form = 'patient.identifier=9434765919,9000000009&status=current';
    const input = describeRequest(
      { method: 'POST', url: '/fhir/DocumentReference/_search', statusCode: 200 },
      { ...empty(), query: form },
    );
    expect(input.entities).toEqual([{ role: 'query', reference: 'DocumentReference', query: form }]);
    expect(input.patientNhsNumbers).toEqual(['9434765919', '9000000009']);
  });

  it('marks 429 as throttled', () => {
    expect(describeRequest({ method: 'GET', url: '/fhir/Binary/1', statusCode: 429 }, empty()).subtype).toBe(
      'throttled',
    );
  });
});

describe('isTallied', () => {
  const anonymous = { actor: { ip: '10.0.0.1', requestId: 'r' } };
  const verified = { actor: { ip: '10.0.0.1', requestId: 'r', subject: 'user-1' } };

  it('counts 401s, 429s and refusals of unverified callers, and writes everything else at once', () => {
    expect(isTallied(401, anonymous)).toBe(true);
    expect(isTallied(429, verified)).toBe(true);
    expect(isTallied(404, anonymous)).toBe(true);
    expect(isTallied(403, verified)).toBe(false);
    expect(isTallied(404, verified)).toBe(false);
    expect(isTallied(200, anonymous)).toBe(false);
  });
});
