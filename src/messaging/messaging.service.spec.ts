import { jest } from '@jest/globals';
import { aDischargeSummaryR4 } from '../../test/fixtures/documents.js';
import { anItkMessageR4 } from '../../test/fixtures/itk3-message.js';
import { FhirError, conflict, forbidden, unprocessable } from '../common/fhir-error.js';
import type { AppConfig } from '../config/app-config.js';
import type { FhirResource } from '../format/fhir-json.js';
import type { DocumentWriter } from '../registry/document-writer.js';
import type { DocumentService, SubmittedDocument } from '../registry/document.service.js';
import type { MessageReceiptPlan } from '../registry/write-plan.js';
import { responseCodesOf } from './itk-response.js';
import type { MessageReceiptRepository } from './message-receipt.repository.js';
import { MessagingService } from './messaging.service.js';

type Json = Record<string, any>;
const actor = { ip: '127.0.0.1', requestId: 'r-1' };
const config = {
  baseUrl: 'https://registry.example',
  notifications: { endpointAllowlist: [] },
} as unknown as AppConfig;

function setup() {
  const submitDocument = jest.fn<DocumentService['submitDocument']>();
  const recordMessage = jest.fn<(plan: MessageReceiptPlan) => Promise<void>>().mockResolvedValue(undefined);
  const address = jest.fn<DocumentWriter['address']>();
  const find = jest.fn<MessageReceiptRepository['find']>().mockResolvedValue(null);
  const service = new MessagingService(
    { submitDocument } as unknown as DocumentService,
    { recordMessage, address } as unknown as DocumentWriter,
    { find } as unknown as MessageReceiptRepository,
    config,
  );
  const process = (message: FhirResource, senderOds = 'RTG') =>
    service.processMessage({ body: Buffer.from(JSON.stringify(message)), format: 'json', senderOds, actor });
  return { service, submitDocument, recordMessage, address, find, process };
}

const stored = (created: boolean): SubmittedDocument =>
  ({ created, bundle: { id: 'b-1' }, documentReferenceId: 'dr-1', warnings: [] }) as unknown as SubmittedDocument;

describe('MessagingService', () => {
  it('submits the embedded document through the REST submission, for the message destinations, receipt attached', async () => {
    const { submitDocument, process } = setup();
    submitDocument.mockResolvedValue(stored(true));
    const document = aDischargeSummaryR4();
    const answered = await process(anItkMessageR4(document, { recipientOds: ['Y11111', 'Y33333'], messageId: 'm-1' }));
    expect(answered).toMatchObject({ code: '20013', replayed: false, documentReferenceId: 'dr-1' });
    const [submission, context] = submitDocument.mock.calls[0];
    expect(submission.body.toString()).toBe(JSON.stringify(document));
    expect(submission.submitterOds).toBe('RTG');
    expect(context?.recipients).toEqual(['Y11111', 'Y33333']);
    expect(context?.messageReceipt).toMatchObject({ messageId: 'm-1', senderOds: 'RTG', ackCode: '20013' });
    expect(context?.messageReceipt?.ack).toBe(answered.ack);
  });

  it('answers a repeat with the stored answer, and the same id with other content with 20007', async () => {
    const { find, submitDocument, process } = setup();
    submitDocument.mockResolvedValue(stored(true));
    const message = anItkMessageR4(aDischargeSummaryR4(), { messageId: 'm-2' });
    const first = await process(message);
    const receipt = submitDocument.mock.calls[0][1]!.messageReceipt!;
    find.mockResolvedValue({ ...receipt, documentReferenceId: 'dr-1' });
    expect(await process(message)).toMatchObject({ ack: first.ack, replayed: true });
    const other = await process(anItkMessageR4(aDischargeSummaryR4({ timestamp: null }), { messageId: 'm-2' }));
    expect(other.code).toBe('20007');
    expect(submitDocument).toHaveBeenCalledTimes(1);
  });

  it('addresses a stored document to the new recipients of another message (20013), else answers 20008', async () => {
    const { submitDocument, address, process } = setup();
    submitDocument.mockResolvedValue(stored(false));
    address.mockResolvedValueOnce(['Y33333']);
    const forAnother = await process(anItkMessageR4(aDischargeSummaryR4(), { recipientOds: ['Y33333'] }));
    expect(forAnother).toMatchObject({ code: '20013', documentReferenceId: 'dr-1' });
    const plan = address.mock.calls[0][0];
    expect(plan).toMatchObject({ documentReferenceId: 'dr-1', recipients: ['Y33333'], actorOds: 'RTG' });
    expect(plan.receiptFor(['Y33333'])).toMatchObject({
      ackCode: '20013',
      recipients: ['Y33333'],
      documentReferenceId: 'dr-1',
    });
    expect(plan.receiptFor([])).toMatchObject({ ackCode: '20008', recipients: [] });

    address.mockResolvedValueOnce([]);
    expect((await process(anItkMessageR4(aDischargeSummaryR4()))).code).toBe('20008');
  });

  it.each([
    [conflict('A different document with identifier x is already stored'), '20008'],
    [forbidden('The custodian is ABC but the token organisation is RTG'), '20003'],
    [new FhirError(415, 'not-supported', 'fhirVersion 5.0 is not supported'), '20009'],
  ])('answers a refused submission (%s) with its ITK3 code', async (error, code) => {
    const { submitDocument, process } = setup();
    submitDocument.mockRejectedValue(error);
    expect((await process(anItkMessageR4(aDischargeSummaryR4()))).code).toBe(code);
  });

  it('lists each validation failure as 20009, masking anything shaped like an NHS number', async () => {
    const { submitDocument, process } = setup();
    submitDocument.mockRejectedValue(
      unprocessable([
        { severity: 'error', code: 'invalid', diagnostics: 'NHS number 943 476 5919 fails its check digit' },
        {
          severity: 'error',
          code: 'required',
          diagnostics: 'Composition.type is required',
          expression: ['Bundle.entry[0]'],
        },
      ]),
    );
    const ack = JSON.parse((await process(anItkMessageR4(aDischargeSummaryR4()))).ack) as Json;
    expect(responseCodesOf(ack)).toEqual(['20009', '20009']);
    const issues = ack.entry[1].resource.issue as Json[];
    expect(issues[0].diagnostics).toBe('NHS number [NHS number] fails its check digit');
    expect(issues[1].expression).toEqual(['Bundle.entry[0]']);
  });

  it('leaves an outage to the sender to retry: no receipt, the error goes up', async () => {
    const { submitDocument, recordMessage, process } = setup();
    submitDocument.mockRejectedValue(new FhirError(503, 'transient', 'The blob store is unavailable'));
    await expect(process(anItkMessageR4(aDischargeSummaryR4()))).rejects.toMatchObject({ status: 503 });
    expect(recordMessage).not.toHaveBeenCalled();
  });

  it('answers 20003 when the message names a sender other than the token organisation, storing nothing', async () => {
    const { submitDocument, process } = setup();
    const answered = await process(anItkMessageR4(aDischargeSummaryR4(), { senderOds: 'RXX' }));
    expect(answered.code).toBe('20003');
    expect(submitDocument).not.toHaveBeenCalled();
  });

  it('refuses a Content-Type fhirVersion other than 3.0 or 4.0 with 415, as a document submission does', async () => {
    const { service } = setup();
    const body = Buffer.from(JSON.stringify(anItkMessageR4(aDischargeSummaryR4())));
    await expect(
      service.processMessage({ body, format: 'json', declaredFhirVersion: '5.0', senderOds: 'RTG', actor }),
    ).rejects.toMatchObject({ status: 415 });
  });

  it('refuses a token without an organisation with 403', async () => {
    const { process } = setup();
    await expect(process(anItkMessageR4(aDischargeSummaryR4()), '')).rejects.toMatchObject({ status: 403 });
  });
});
