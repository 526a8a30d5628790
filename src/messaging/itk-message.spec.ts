import { aDischargeSummaryR4 } from '../../test/fixtures/documents.js';
import { anItkMessageR4, anItkMessageStu3Xml } from '../../test/fixtures/itk3-message.js';
import { aStu3DischargeXml } from '../../test/fixtures/stu3-document.js';
import { FhirError } from '../common/fhir-error.js';
import type { FhirResource } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { readItkMessage } from './itk-message.js';

type Json = Record<string, any>;
const header = (message: FhirResource): Json => (message.entry as Json[])[0].resource;

describe('readItkMessage', () => {
  it('reads an R4 message: id, event, source, sender, destinations, handling and the focused document', () => {
    const document = aDischargeSummaryR4();
    const message = anItkMessageR4(document, {
      messageId: 'm-1',
      recipientOds: ['Y11111', 'Y22222'],
      busAckRequested: true,
    });
    const read = readItkMessage(message);
    expect(read.issues).toEqual([]);
    expect(read).toMatchObject({
      messageId: 'm-1',
      fhirVersion: '4.0.1',
      event: { code: 'ITK003D' },
      sourceEndpoint: 'https://sender.example/itk',
      senderOds: 'RTG',
      recipients: ['Y11111', 'Y22222'],
      handling: { busAckRequested: true, infAckRequested: true, recipientType: 'FA', senderReference: 'None' },
    });
    expect(read.document).toBe(document);
  });

  it('reads an STU3 XML message: event, receiver and the document entry', () => {
    const xml = anItkMessageStu3Xml(aStu3DischargeXml({ gpOds: 'Y54321' }), {
      messageId: 'm-2',
      recipientOds: ['Y54321'],
    });
    const read = readItkMessage(parseFhirXml(Buffer.from(xml)));
    expect(read.issues).toEqual([]);
    expect(read).toMatchObject({ messageId: 'm-2', fhirVersion: '3.0.1', recipients: ['Y54321'], senderOds: 'RTG' });
    expect(read.handling?.busAckRequested).toBe(true);
    expect(read.document?.type).toBe('document');
  });

  it('lists each missing handling specification key with its ITK3 code', () => {
    const message = anItkMessageR4(aDischargeSummaryR4(), {
      omitHandlingKeys: ['BusAckRequested', 'InfAckRequested', 'RecipientType', 'MessageDefinition', 'SenderReference'],
    });
    expect(readItkMessage(message).issues.map((i) => i.code)).toEqual(['10003', '10002', '10010', '10004', '10007']);
  });

  it('refuses with 10001 a MessageHeader without the handling extension', () => {
    const message = anItkMessageR4(aDischargeSummaryR4());
    delete header(message).extension;
    expect(readItkMessage(message).issues.map((i) => i.code)).toEqual(['10001']);
  });

  it('answers 20006 for a missing event, source endpoint or recipient, and 10004 for a non-document event', () => {
    const message = anItkMessageR4(aDischargeSummaryR4());
    delete header(message).eventCoding;
    delete header(message).source;
    delete header(message).destination;
    expect(readItkMessage(message).issues.map((i) => i.code)).toEqual(['20006', '20006', '20006']);
    const response = anItkMessageR4(aDischargeSummaryR4(), { eventCode: 'ITK008M' });
    expect(readItkMessage(response).issues.map((i) => i.code)).toEqual(['10004']);
  });

  it('answers 20009 when the focus is not a document Bundle', () => {
    const message = anItkMessageR4(aDischargeSummaryR4());
    header(message).focus = [{ reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' }];
    const read = readItkMessage(message);
    expect(read.issues.map((i) => i.code)).toEqual(['20009']);
    expect(read.document).toBeUndefined();
  });

  it('refuses outright (400) what no acknowledgement could answer: not a message, no MessageHeader, no id', () => {
    const refused = (resource: FhirResource) => {
      try {
        readItkMessage(resource);
      } catch (error) {
        return (error as FhirError).status;
      }
      return 'accepted';
    };
    expect(refused(aDischargeSummaryR4())).toBe(400);
    const noHeader = anItkMessageR4(aDischargeSummaryR4());
    (noHeader.entry as Json[]).shift();
    expect(refused(noHeader)).toBe(400);
    const noId = anItkMessageR4(aDischargeSummaryR4());
    delete header(noId).id;
    expect(refused(noId)).toBe(400);
  });
});
