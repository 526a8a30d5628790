import type { Actor } from './actor.js';
import { type AuditInput, buildAuditEvent } from './audit-event-resource.js';

const observer = { baseUrl: 'https://registry.example.nhs.uk', issuer: 'https://auth.example.nhs.uk' };
const recorded = new Date('2025-03-04T05:06:07.089Z');
const actor: Actor = {
  subject: 'user-123',
  clientId: 'gp-system',
  organization: 'Y12345',
  tokenId: 'jti-1',
  ip: '10.1.2.3',
  requestId: 'req-1',
  correlationId: 'corr-9',
};

function build(input: Partial<AuditInput>) {
  return buildAuditEvent(
    { actor, action: 'R', subtype: 'read', outcome: '0', entities: [], ...input },
    { id: 'ae-1', recorded, observer },
  ) as Record<string, any>;
}

describe('buildAuditEvent', () => {
  it('describes a plain read as a RESTful read (BALP)', () => {
    const event = build({ entities: [{ reference: 'DocumentReference/123' }] });
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      id: 'ae-1',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
      action: 'R',
      recorded: '2025-03-04T05:06:07.089Z',
      outcome: '0',
      source: { observer: { identifier: { value: observer.baseUrl } } },
    });
    expect(event.outcomeDesc).toBeUndefined();
    expect(event.entity).toContainEqual({
      what: { reference: 'DocumentReference/123' },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
    });
  });

  it('names the user (sub in the issuer namespace, jti as policy), client, organisation and server as agents', () => {
    const event = build({});
    const [user, client, organization, server] = event.agent;
    expect(user).toMatchObject({
      who: { identifier: { system: observer.issuer, value: 'user-123' } },
      requestor: true,
      policy: ['jti-1'],
    });
    // a reading client is where the data goes: Destination Role ID
    expect(client).toMatchObject({
      type: { coding: [{ code: '110152' }] },
      who: { identifier: { value: 'gp-system' } },
      requestor: false,
      network: { address: '10.1.2.3', type: '2' },
    });
    expect(organization).toMatchObject({
      who: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'Y12345' } },
    });
    expect(server).toMatchObject({ type: { coding: [{ code: '110153' }] }, requestor: false });
  });

  it('makes the client the requestor when no token identified a user', () => {
    const event = build({ actor: { ip: '10.0.0.9', requestId: 'r' }, subtype: 'login-failure', outcome: '4' });
    expect(event.agent).toHaveLength(2);
    expect(event.agent[0]).toMatchObject({ requestor: true, network: { address: '10.0.0.9' } });
  });

  it('tags an ITI-65 submission with the MHD Import type, the IHE subtype and the REST create', () => {
    const event = build({
      action: 'C',
      subtype: 'create',
      transaction: 'ITI-65',
      entities: [{ reference: 'Bundle/b1', role: 'document' }],
    });
    expect(event.type).toEqual({
      system: 'http://dicom.nema.org/resources/ontology/DCM',
      code: '110107',
      display: 'Import',
    });
    expect(event.subtype).toEqual([
      { system: 'urn:ihe:event-type-code', code: 'ITI-65', display: 'Provide Document Bundle' },
      { system: 'http://hl7.org/fhir/restful-interaction', code: 'create' },
    ]);
    // a writing client is where the data comes from: Source Role ID
    expect(event.agent[1].type.coding[0].code).toBe('110153');
    expect(event.entity[0].role.code).toBe('3');
  });

  it('records an ITI-67 search with its query base64-encoded and the patient as an entity', () => {
    const query = 'patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919';
    const event = build({
      action: 'E',
      subtype: 'search',
      transaction: 'ITI-67',
      entities: [{ role: 'query', reference: 'DocumentReference', query }],
      patientNhsNumbers: ['9434765919'],
    });
    expect(event.type.code).toBe('110112');
    expect(event.subtype.map((c: { code: string }) => c.code)).toEqual(['ITI-67', 'search-type']);
    const queryEntity = event.entity.find((e: any) => e.role?.code === '24');
    expect(Buffer.from(queryEntity.query, 'base64').toString('utf8')).toBe(query);
    expect(queryEntity.what).toBeUndefined();
    expect(event.entity).toContainEqual(
      expect.objectContaining({
        what: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } },
        role: expect.objectContaining({ code: '1' }),
      }),
    );
  });

  it('carries X-Request-ID as a BALP XrequestId entity and the correlation id as its detail', () => {
    const event = build({});
    expect(event.entity).toContainEqual(
      expect.objectContaining({
        what: { identifier: { value: 'req-1' } },
        type: expect.objectContaining({ code: 'XrequestId' }),
        detail: [{ type: 'X-Correlation-ID', valueString: 'corr-9' }],
      }),
    );
  });

  it('describes failures: login failures as User Authentication, refusals as Security Alert, with outcomeDesc', () => {
    const login = build({ subtype: 'login-failure', outcome: '4', outcomeDescription: 'no token' });
    expect(login).toMatchObject({
      type: { code: '110114' },
      subtype: [{ code: '110122' }],
      outcome: '4',
      outcomeDesc: 'no token',
    });
    const forbidden = build({ subtype: 'forbidden', outcome: '4', outcomeDescription: 'needs scope' });
    expect(forbidden).toMatchObject({ type: { code: '110113' }, outcomeDesc: 'needs scope' });
  });

  it('describes viewer sign-in and sign-out as User Authentication Login and Logout', () => {
    expect(build({ action: 'E', subtype: 'login' })).toMatchObject({
      type: { code: '110114' },
      subtype: [{ code: '110122', display: 'Login' }],
      outcome: '0',
    });
    expect(build({ action: 'E', subtype: 'logout' }).subtype).toEqual([
      { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110123', display: 'Logout' },
    ]);
  });

  it('codes our own subtypes in a local system', () => {
    expect(build({ action: 'U', subtype: 'withdraw' }).subtype).toEqual([
      { system: 'urn:fhir-document-registry:audit-subtype', code: 'withdraw' },
    ]);
  });

  it("records an operator's reason as purposeOfEvent and a job's counts as details of a Job entity", () => {
    const event = build({
      action: 'D',
      subtype: 'blob-sweep',
      reason: 'court order 123',
      details: [
        { type: 'listed', value: '12' },
        { type: 'removed', value: '3' },
      ],
    });

    expect(event.purposeOfEvent).toEqual([{ text: 'court order 123' }]);
    expect(event.subtype).toEqual([{ system: 'urn:fhir-document-registry:audit-subtype', code: 'blob-sweep' }]);
    expect(event.entity).toContainEqual({
      what: { display: 'blob-sweep' },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '20', display: 'Job' },
      detail: [
        { type: 'listed', valueString: '12' },
        { type: 'removed', valueString: '3' },
      ],
    });
    expect(build({}).purposeOfEvent).toBeUndefined();
  });
});
