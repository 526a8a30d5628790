import { Controller, Post, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiErrors,
  ApiFhirBody,
  ApiFhirResponse,
  ApiFormat,
  FHIR_JSON_TYPE,
  FHIR_XML_TYPE,
} from '../common/api-docs.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { principalOf } from '../auth/principal.js';
import { invalid } from '../common/fhir-error.js';
import type { FhirResource } from '../format/fhir-json.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { parseMediaType, requireFhirFormat } from '../format/media-type.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { contentTypeOf, fhirCandidates, fhirFormatOfType, negotiate, varyOnAccept } from './content-negotiation.js';

/**
 * FHIR messaging (`$process-message`, synchronous) for ITK3 senders: a message Bundle in, its ITK3 infrastructure
 * acknowledgement (a message Bundle) back with 200, whatever its code; only what cannot be answered as a message (no
 * message Bundle, no MessageHeader id, no access) is an OperationOutcome with a 4xx.
 */
@ApiTags('Messaging')
@Controller('fhir')
export class ProcessMessageController {
  constructor(private readonly messaging: MessagingService) {}

  @Post('$process-message')
  @RequireScope('Bundle', 'c')
  @ApiOperation({
    summary: 'Process an ITK3 message (synchronous)',
    description:
      'An ITK3 FHIR message (R4 or STU3, JSON or XML): a message Bundle whose MessageHeader points at a document ' +
      'Bundle, stored as POST /fhir/Bundle stores one, addressed to the message destinations. The answer is always ' +
      'an ITK3 Response message (200): 20013 stored, 20007 duplicate message, 20008 duplicate document, 20009 ' +
      'invalid payload, 1000x/2000x for the handling rules. A repeated message gets the same answer.',
  })
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFormat()
  @ApiFhirBody('Bundle', 'An ITK3 message Bundle: MessageHeader first, the document Bundle as its focus')
  @ApiFhirResponse(
    200,
    'Bundle',
    'The ITK3 infrastructure acknowledgement: a message Bundle with MessageHeader.response',
  )
  @ApiErrors([400, 'Not a message Bundle, no MessageHeader first, or a MessageHeader without id'], 413, [
    415,
    'The Content-Type is not a FHIR JSON or XML media type',
  ])
  async processMessage(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const mediaType = parseMediaType(request.headers['content-type']);
    const format = requireFhirFormat(mediaType);
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw invalid('The request has no body: send an ITK3 message Bundle');
    }
    const answered = await this.messaging.processMessage({
      body: request.body,
      format,
      declaredFhirVersion: mediaType?.fhirVersion,
      senderOds: principalOf(request)?.organization,
      actor: actorOf(request),
    });
    const audit = auditContext(request);
    // a stored document or a recorded refusal was audited in its transaction; a repeat is audited as a request
    audit.recorded = !answered.replayed && answered.code !== '20007';
    audit.subtype = 'process-message';
    if (answered.documentReferenceId) {
      audit.entities.push({ reference: `DocumentReference/${answered.documentReferenceId}` });
    }
    if (answered.patientNhsNumber) {
      audit.patientNhsNumbers.push(answered.patientNhsNumber);
    }
    // the answer in the request's format unless `_format` or Accept asks for the other
    const chosen = negotiate(request, fhirCandidates(format));
    const stu3 = (JSON.parse(answered.ack) as { meta?: { profile?: string[] } }).meta?.profile?.some((p) =>
      p.includes('/STU3/'),
    );
    const body =
      fhirFormatOfType(chosen) === 'xml' ? writeFhirXml(JSON.parse(answered.ack) as FhirResource) : answered.ack;
    varyOnAccept(reply);
    await reply
      .status(200)
      .header('content-type', `${contentTypeOf(chosen)}${stu3 ? '; fhirVersion=3.0' : ''}`)
      .send(body);
  }
}
