import { createHash, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { canonicalJson } from '../common/canonical-json.js';
import { FhirError, forbidden } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { detectFhirVersion } from '../registry/document-bundle.js';
import { DocumentWriter } from '../registry/document-writer.js';
import { DocumentService } from '../registry/document.service.js';
import type { MessageReceipt } from '../registry/message-receipts.js';
import { readItkMessage, type ItkMessage } from './itk-message.js';
import { responseMessage, type ItkIssue, type ItkResponseCode } from './itk-response.js';
import type { MessageReceiptEntity } from './message-receipt.entity.js';
import { MessageReceiptRepository } from './message-receipt.repository.js';
import { EndpointAllowlist, UnsafeEndpointError, checkEndpointUrl } from '../notifications/endpoint-safety.js';

export interface MessageSubmission {
  body: Buffer;
  format: 'json' | 'xml';
  /** The Content-Type `fhirVersion` parameter, if any. */
  declaredFhirVersion?: string;
  /** ODS code of the sending organisation (the token's organization claim). */
  senderOds?: string;
  actor: Actor;
}

/** The synchronous answer to a message: its ITK3 infrastructure acknowledgement, and what was stored. */
export interface ProcessedMessage {
  /** The acknowledgement message Bundle, as JSON text (a duplicate gets the text stored the first time). */
  ack: string;
  code: ItkResponseCode;
  /** True when this is the stored answer to the same message received before. */
  replayed: boolean;
  documentReferenceId?: string;
  bundleId?: string;
  patientNhsNumber?: string;
}

// ITK3 FHIR-BA-02: nothing patient-identifiable in a response, so anything shaped like an NHS number is masked
const NHS_NUMBER_LIKE = /\b\d{3}[ -]?\d{3}[ -]?\d{4}\b/g;
const masked = (text: string): string => text.replace(NHS_NUMBER_LIKE, '[NHS number]');

const STORED = 'The document is stored and addressed to its recipients';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * ITK3 messaging: a message Bundle carrying a document is one more way into the same submission as POST /fhir/Bundle
 * (same validation, custodian rule, immutability, DocumentReference, Tasks and outbox), addressed to the message's
 * destinations as well; it is answered with an ITK3 infrastructure acknowledgement, recorded with the document so a
 * duplicate message gets the same answer.
 */
@Injectable()
export class MessagingService {
  constructor(
    private readonly documents: DocumentService,
    private readonly writer: DocumentWriter,
    private readonly receipts: MessageReceiptRepository,
    private readonly config: AppConfig,
  ) {
    this.allowlist = new EndpointAllowlist(config.notifications.endpointAllowlist);
  }

  private readonly allowlist: EndpointAllowlist;

  private get endpoint(): string {
    return `${this.config.baseUrl}/fhir/$process-message`;
  }

  async processMessage(submission: MessageSubmission): Promise<ProcessedMessage> {
    const parsed = submission.format === 'json' ? parseFhirJson(submission.body) : parseFhirXml(submission.body);
    const message = readItkMessage(parsed);
    const senderOds = submission.senderOds;
    if (!senderOds) {
      throw forbidden('The access token carries no organization claim: a message needs the ODS code of its sender');
    }
    const contentSha256 = sha256(canonicalJson(parsed));
    const earlier = await this.receipts.find(senderOds, message.messageId);
    if (earlier) {
      return this.answerAgain(earlier, contentSha256, message);
    }
    const now = new Date();
    const receipt: Omit<MessageReceipt, 'ackCode' | 'ack' | 'documentReferenceId' | 'recipients'> = {
      id: randomUUID(),
      senderOds,
      messageId: message.messageId,
      contentSha256,
      receivedAt: now.getTime(),
      sourceEndpoint: message.sourceEndpoint?.slice(0, 2048) ?? null,
      busAckRequested: message.handling?.busAckRequested ?? false,
      fhirVersion: message.fhirVersion,
    };
    const issues = [...message.issues, ...this.senderIssues(message, senderOds)];
    if (issues.length > 0 || !message.document) {
      return this.refuse(receipt, message, issues, submission.actor, now);
    }
    const { document } = message;
    const stu3 = detectFhirVersion(document, submission.declaredFhirVersion) === '3.0.1';
    // the embedded document is stored in the message's format, serialised once; those bytes are then the record
    const body = Buffer.from(submission.format === 'json' ? JSON.stringify(document) : writeFhirXml(document));
    const mediaType = submission.format === 'json' ? 'application/fhir+json' : 'application/fhir+xml';
    const ack = this.answer(message, [{ code: '20013', diagnostics: STORED }], now);
    try {
      const result = await this.documents.submitDocument(
        {
          body,
          format: submission.format,
          contentType: `${mediaType}; fhirVersion=${stu3 ? '3.0' : '4.0'}`,
          declaredFhirVersion: stu3 ? '3.0' : '4.0',
          submitterOds: senderOds,
          actor: submission.actor,
        },
        {
          recipients: message.recipients,
          messageReceipt: { ...receipt, recipients: message.recipients, ackCode: '20013', ack },
          auditSubtype: 'process-message',
        },
      );
      if (result.created) {
        return {
          ack,
          code: '20013',
          replayed: false,
          documentReferenceId: result.documentReferenceId,
          bundleId: result.bundle.id,
          patientNhsNumber: result.patientNhsNumber,
        };
      }
      const again = await this.receipts.find(senderOds, message.messageId);
      if (again) {
        return this.answerAgain(again, contentSha256, message); // the same message, sent twice at once
      }
      return await this.addressStored(receipt, message, result.documentReferenceId, submission.actor, now);
    } catch (error) {
      if (!(error instanceof FhirError) || error.status >= 500 || error.status === 413) {
        throw error; // an outage or a limit is no verdict on the message: no receipt, the sender may retry
      }
      const again = await this.receipts.find(senderOds, message.messageId);
      if (again) {
        return this.answerAgain(again, contentSha256, message);
      }
      const code: ItkResponseCode = error.status === 409 ? '20008' : error.status === 403 ? '20003' : '20009';
      const refusals = error.issues.map((issue): ItkIssue => ({
        code,
        diagnostics: masked(issue.diagnostics),
        expression: issue.expression?.[0],
      }));
      return this.refuse(receipt, message, refusals, submission.actor, now);
    }
  }

  /**
   * The document is stored already (this custodian sent it before, by message or REST): ITK3 sends one message per
   * recipient, so a message for recipients it does not have yet addresses it to them (20013); one that brings nothing
   * new is a duplicate document (20008).
   */
  private async addressStored(
    receipt: Omit<MessageReceipt, 'ackCode' | 'ack' | 'documentReferenceId' | 'recipients'>,
    message: ItkMessage,
    documentReferenceId: string,
    actor: Actor,
    now: Date,
  ): Promise<ProcessedMessage> {
    const stored = this.answer(message, [{ code: '20013', diagnostics: STORED }], now);
    const duplicate = this.answer(
      message,
      [
        {
          code: '20008',
          diagnostics: `This document is already stored (DocumentReference/${documentReferenceId}) and addressed to these recipients`,
        },
      ],
      now,
    );
    let added: string[];
    try {
      added = await this.writer.address({
        kind: 'address',
        documentReferenceId,
        recipients: message.recipients,
        actorOds: receipt.senderOds,
        receiptFor: (added) => ({
          ...receipt,
          recipients: added,
          documentReferenceId,
          ackCode: added.length > 0 ? '20013' : '20008',
          ack: added.length > 0 ? stored : duplicate,
        }),
        audit: { actor, subtype: 'process-message' },
      });
    } catch (error) {
      // the same message sent twice at once: the other copy recorded its receipt first
      const again = await this.receipts.find(receipt.senderOds, receipt.messageId);
      if (again) {
        return this.answerAgain(again, receipt.contentSha256, message);
      }
      throw error;
    }
    return added.length > 0
      ? { ack: stored, code: '20013', replayed: false, documentReferenceId }
      : { ack: duplicate, code: '20008', replayed: false, documentReferenceId };
  }

  /** The sender named in the message must be the organisation the token speaks for; acks must be deliverable. */
  private senderIssues(message: ItkMessage, senderOds: string): ItkIssue[] {
    const issues: ItkIssue[] = [];
    if (message.senderOds && message.senderOds.toUpperCase() !== senderOds.toUpperCase()) {
      issues.push({
        code: '20003',
        diagnostics: `MessageHeader.sender is ${message.senderOds} but the access token's organisation is ${senderOds}`,
        expression: 'MessageHeader.sender',
      });
    }
    if (message.handling?.busAckRequested && message.sourceEndpoint) {
      // the webhook rules (https, no credentials; addresses are checked again when the acknowledgement is sent)
      try {
        checkEndpointUrl(message.sourceEndpoint, this.allowlist, 'MessageHeader.source.endpoint');
      } catch (error) {
        if (!(error instanceof UnsafeEndpointError)) {
          throw error;
        }
        issues.push({
          code: '10003',
          diagnostics: `BusAckRequested is true but no business acknowledgement can be sent to MessageHeader.source.endpoint: ${error.message}`,
          expression: 'MessageHeader.source.endpoint',
        });
      }
    }
    return issues;
  }

  private answer(message: ItkMessage, issues: ItkIssue[], now: Date): string {
    return JSON.stringify(
      responseMessage({
        inResponseTo: message.messageId,
        fhirVersion: message.fhirVersion,
        destinationEndpoint: message.sourceEndpoint,
        sourceEndpoint: this.endpoint,
        issues,
        now,
      }),
    );
  }

  /** A refused message (or its document already stored) is recorded with its answer, so a repeat gets the same. */
  private async refuse(
    receipt: Omit<MessageReceipt, 'ackCode' | 'ack' | 'documentReferenceId' | 'recipients'>,
    message: ItkMessage,
    issues: ItkIssue[],
    actor: Actor,
    now: Date,
  ): Promise<ProcessedMessage> {
    const ack = this.answer(message, issues, now);
    const code = issues[0].code;
    try {
      await this.writer.recordMessage({
        kind: 'message-receipt',
        receipt: { ...receipt, recipients: [], ackCode: code, ack, documentReferenceId: null },
        audit: { actor, subtype: 'process-message' },
      });
    } catch (error) {
      const again = await this.receipts.find(receipt.senderOds, receipt.messageId);
      if (again) {
        return this.answerAgain(again, receipt.contentSha256, message);
      }
      throw error;
    }
    return { ack, code, replayed: false };
  }

  /** The same message again gets the first answer; the same id with other content is a duplicate (20007). */
  private answerAgain(earlier: MessageReceiptEntity, contentSha256: string, message: ItkMessage): ProcessedMessage {
    if (earlier.contentSha256 === contentSha256) {
      return {
        ack: earlier.ack,
        code: earlier.ackCode as ItkResponseCode,
        replayed: true,
        documentReferenceId: earlier.documentReferenceId ?? undefined,
      };
    }
    const issue: ItkIssue = {
      code: '20007',
      diagnostics: `A message with MessageHeader.id ${message.messageId} was already received from your organisation with other content`,
      expression: 'MessageHeader.id',
    };
    return { ack: this.answer(message, [issue], new Date()), code: '20007', replayed: false };
  }

  /** The receipt of a message, for tests and support: what it was answered. */
  findReceipt(senderOds: string, messageId: string): Promise<MessageReceiptEntity | null> {
    return this.receipts.find(senderOds, messageId);
  }
}
