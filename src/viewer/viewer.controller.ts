import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/access-rule.decorator.js';
import { notFound } from '../common/fhir-error.js';
import { formatNhsNumber, parseNhsNumberInput } from './display.js';
import { documentPage, errorPage, historyPage, searchPage } from './pages.js';
import { assetEtag, SCRIPT, STYLESHEET } from './viewer-assets.js';
import { HTML } from './viewer-exception.filter.js';
import { keepOwnPolicy } from './viewer-headers.js';
import { viewerStateOf } from './viewer-request.js';
import { SignedOutAllowed, ViewerPages } from './viewer-session.guard.js';
import { PAGE_SIZE, ViewerService } from './viewer.service.js';

/**
 * An attachment shown in a viewer page gets a policy of its own: it may be framed by the viewer (not by anyone
 * else), and it may run nothing: `sandbox` without allow-scripts stops an HTML or SVG smuggled in as a Binary.
 */
const ATTACHMENT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'self'";
const DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

const CSS_ETAG = assetEtag(STYLESHEET);
const JS_ETAG = assetEtag(SCRIPT);

/** The style sheet and script: the same for everyone, so no session and no cookies (they may be cached). */
// HTML pages for people with a session cookie, not the API: left out of /docs
@ApiExcludeController()
@Controller('app/static')
@Public()
export class ViewerAssetsController {
  @Get('viewer.css')
  async stylesheet(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.asset(request, reply, 'text/css; charset=utf-8', STYLESHEET, CSS_ETAG);
  }

  @Get('viewer.js')
  async script(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.asset(request, reply, 'text/javascript; charset=utf-8', SCRIPT, JS_ETAG);
  }

  private async asset(
    request: FastifyRequest,
    reply: FastifyReply,
    type: string,
    body: string,
    etag: string,
  ): Promise<void> {
    reply.header('etag', etag).header('cache-control', 'public, max-age=3600');
    if (request.headers['if-none-match'] === etag) {
      await reply.status(304).send();
      return;
    }
    await reply.status(200).header('content-type', type).send(body);
  }
}

/** `/` is the clinician viewer. */
// HTML pages for people with a session cookie, not the API: left out of /docs
@ApiExcludeController()
@Controller()
export class RootController {
  @Get()
  @Public()
  async root(@Res() reply: FastifyReply): Promise<void> {
    await reply.status(302).header('location', '/app').send();
  }
}

/** The clinician viewer: find a patient's documents, open one, see its history. Thin: ViewerService does the work. */
// HTML pages for people with a session cookie, not the API: left out of /docs
@ApiExcludeController()
@Controller('app')
@ViewerPages()
export class ViewerController {
  constructor(private readonly viewer: ViewerService) {}

  @Get()
  @SignedOutAllowed()
  async home(@Res() reply: FastifyReply): Promise<void> {
    await reply.status(302).header('location', '/app/documents').send();
  }

  /** The search form; with `nhs`, a page of that patient's documents, newest first. */
  @Get('documents')
  async documents(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Query('nhs') nhs?: string,
    @Query('cursor') cursor?: string,
    @Query('start') start?: string,
  ): Promise<void> {
    const state = viewerStateOf(request);
    const from = /^\d{1,7}$/.test(start ?? '') ? Number(start) : 0;
    if (nhs === undefined) {
      await this.send(reply, 200, searchPage(state, { start: 0, pageSize: PAGE_SIZE }).value);
      return;
    }
    const typed = String(nhs).slice(0, 40);
    const input = parseNhsNumberInput(typed);
    if (!input.ok) {
      await this.send(
        reply,
        400,
        searchPage(state, { typed, error: input.message, start: 0, pageSize: PAGE_SIZE }).value,
      );
      return;
    }
    const list = await this.viewer.findDocuments(request, input.value, typeof cursor === 'string' ? cursor : undefined);
    // shown back 3-3-4, as NHS numbers are read
    const shown = formatNhsNumber(input.value);
    await this.send(reply, 200, searchPage(state, { typed: shown, list, start: from, pageSize: PAGE_SIZE }).value);
  }

  @Get('documents/:id')
  async document(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const page = await this.viewer.openDocument(request, id);
    await this.send(reply, 200, documentPage(viewerStateOf(request), page).value);
  }

  @Get('documents/:id/history')
  async history(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const page = await this.viewer.history(request, id);
    await this.send(reply, 200, historyPage(viewerStateOf(request), page).value);
  }

  /** The document exactly as it was submitted, as a download. */
  @Get('documents/:id/original')
  async original(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const { bytes, contentType } = await this.viewer.original(request, id);
    keepOwnPolicy(request);
    await reply
      .header('content-type', contentType)
      .header(
        'content-disposition',
        `attachment; filename="document-${id}.${/xml/i.test(contentType) ? 'xml' : 'json'}"`,
      )
      .header('content-security-policy', DOWNLOAD_CSP)
      .send(bytes);
  }

  /** A pointer's attachment held here: PDFs and images inline (for the viewer page to frame), the rest downloaded. */
  @Get('documents/:id/attachments/:index')
  async attachment(
    @Param('id') id: string,
    @Param('index') index: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Query('download') download?: string,
  ): Promise<void> {
    if (!/^\d{1,3}$/.test(index)) {
      throw notFound(`There is no attachment ${index}`);
    }
    const content = await this.viewer.attachment(request, id, Number(index));
    const inline = content.inline && download === undefined;
    keepOwnPolicy(request);
    reply
      .header('content-type', content.contentType)
      .header('content-length', content.binary.size)
      .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${content.filename}"`)
      .header('content-security-policy', inline ? ATTACHMENT_CSP : DOWNLOAD_CSP)
      .header('x-frame-options', inline ? 'SAMEORIGIN' : 'DENY');
    try {
      await reply.send(content.stream);
    } catch (error) {
      content.stream.destroy();
      throw error;
    }
  }

  /** Anything else under /app: a page, not an OperationOutcome. */
  @Get('*')
  @SignedOutAllowed()
  async unknown(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.send(reply, 404, errorPage(viewerStateOf(request), 404, 'There is no such page').value);
  }

  private async send(reply: FastifyReply, status: number, body: string): Promise<void> {
    await reply.status(status).header('content-type', HTML).send(body);
  }
}
