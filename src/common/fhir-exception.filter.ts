import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { outcomeBody, varyOnAccept } from '../fhir/content-negotiation.js';
import { toErrorResponse } from './error-response.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** The one place errors become HTTP responses: every failure is an OperationOutcome. */
@Catch()
export class FhirExceptionFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, headers, outcome } = toErrorResponse(error);
    if (reply.sent) {
      // A streamed body already started: all we can do is cut the connection so the client sees a failure.
      reply.raw.destroy();
      return;
    }
    // In the client's format (XML on Accept or _format), like every other answer.
    const { contentType, body } = outcomeBody(reply.request, outcome);
    varyOnAccept(reply);
    void reply.status(status).headers(headers).header('content-type', contentType).send(body);
  }
}
