import { businessAcknowledgement, responseCodesOf, responseMessage } from './itk-response.js';

type Json = Record<string, any>;
const now = new Date('2024-03-08T17:00:00Z');

describe('ITK3 response messages', () => {
  it('answers an R4 message with a message Bundle: MessageHeader response ok to its id, OperationOutcome with 20013', () => {
    const ack = responseMessage({
      inResponseTo: 'incoming-1',
      fhirVersion: '4.0.1',
      destinationEndpoint: 'https://sender.example/itk',
      sourceEndpoint: 'https://registry.example/fhir/$process-message',
      issues: [{ code: '20013', diagnostics: 'stored' }],
      now,
    }) as Json;
    expect(ack).toMatchObject({ resourceType: 'Bundle', type: 'message', timestamp: now.toISOString() });
    const [header, outcome] = ack.entry.map((e: Json) => e.resource);
    expect(header).toMatchObject({
      resourceType: 'MessageHeader',
      eventCoding: { code: 'ITK008M' },
      destination: [{ endpoint: 'https://sender.example/itk' }],
      response: { identifier: 'incoming-1', code: 'ok', details: { reference: ack.entry[1].fullUrl } },
    });
    expect(outcome.issue).toEqual([
      {
        severity: 'information',
        code: 'informational',
        details: {
          coding: [
            {
              system: 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1',
              code: '20013',
              display: 'Infrastructure Acknowledgement',
            },
          ],
        },
        diagnostics: 'stored',
      },
    ]);
  });

  it('answers a refusal with fatal-error and one fatal issue per finding, STU3-shaped for an STU3 message', () => {
    const ack = responseMessage({
      inResponseTo: 'incoming-2',
      fhirVersion: '3.0.1',
      sourceEndpoint: 'https://registry.example/fhir/$process-message',
      issues: [
        { code: '20009', diagnostics: 'first', expression: 'Bundle.entry[0]' },
        { code: '20009', diagnostics: 'second' },
      ],
      now,
    }) as Json;
    const header = ack.entry[0].resource;
    expect(header.event.code).toBe('ITK008M');
    expect(header.eventCoding).toBeUndefined();
    expect(header.timestamp).toBe(now.toISOString());
    expect(header.response.code).toBe('fatal-error');
    expect(ack.meta.profile).toEqual(['https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Message-Bundle-1']);
    expect(ack.entry[1].resource.issue.map((i: Json) => [i.severity, i.code, i.expression])).toEqual([
      ['fatal', 'processing', ['Bundle.entry[0]']],
      ['fatal', 'processing', undefined],
    ]);
    expect(responseCodesOf(ack)).toEqual(['20009', '20009']);
  });

  it('writes a business acknowledgement from the recipient to the sender, answering the original message', () => {
    const ack = businessAcknowledgement({
      receipt: { messageId: 'incoming-3', fhirVersion: '4.0.1', sourceEndpoint: 'https://sender.example/itk' },
      code: '30002',
      recipientOds: 'Y11111',
      sourceEndpoint: 'https://registry.example/fhir/$process-message',
      now,
    }) as Json;
    const header = ack.entry[0].resource;
    expect(header.response).toMatchObject({ identifier: 'incoming-3', code: 'fatal-error' });
    expect(header.sender.identifier.value).toBe('Y11111');
    expect(header.destination).toEqual([{ endpoint: 'https://sender.example/itk' }]);
    expect(responseCodesOf(ack)).toEqual(['30002']);
    expect(ack.identifier.value).toBe(ack.id);
  });
});
