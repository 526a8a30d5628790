import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from '../common/error-response.js';
import { errorPage } from './pages.js';
import { SignInRequired, viewerStateOf } from './viewer-request.js';

export const HTML = 'text/html; charset=utf-8';

/**
 * Errors of viewer pages as HTML pages with the right status (the same statuses and messages the FHIR API would give,
 * through toErrorResponse, which also logs unexpected errors with an id); a page that needs a session redirects to
 * sign-in instead.
 */
@Catch()
export class ViewerExceptionFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    if (reply.sent) {
      reply.raw.destroy();
      return;
    }
    if (error instanceof SignInRequired) {
      void reply
        .status(303)
        .header('location', `/app/sign-in?next=${encodeURIComponent(error.next)}`)
        .send();
      return;
    }
    const { status, headers, outcome } = toErrorResponse(error);
    const message = outcome.issue[0]?.diagnostics ?? 'The request could not be completed';
    // bearer challenges mean nothing to a browser; Retry-After and Allow still do
    const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'www-authenticate'));
    for (const name of ['content-disposition', 'content-length', 'etag', 'last-modified']) {
      reply.removeHeader(name);
    }
    void reply
      .status(status)
      .headers(kept)
      .header('content-type', HTML)
      .send(errorPage(viewerStateOf(request), status, message).value);
  }
}
