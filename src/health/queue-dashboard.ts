import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { BearerAuthGuard } from '../auth/bearer-auth.guard.js';
import { toErrorResponse } from '../common/error-response.js';
import { FHIR_JSON } from '../common/fhir-exception.filter.js';
import { NotificationQueue } from '../notifications/notification-queue.service.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

// The dashboard is a script-driven page (our API answers carry default-src 'none'); its fonts come from Google.
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
  "font-src 'self' https://fonts.gstatic.com",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The bull-board queue dashboard at /admin/queues, read-only (the relay owns retries). Its routes are plain Fastify
 * routes that Nest's guards never see, so every one of them, page, API and static assets, passes the same admin-scope
 * check first.
 */
export async function registerQueueDashboard(app: NestFastifyApplication): Promise<void> {
  const guard = app.get(BearerAuthGuard);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [app.get(NotificationQueue).dashboardAdapter()],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Notification queue' } },
  });
  await app.register(async (scope: FastifyInstance) => {
    scope.addHook('onRequest', async (request, reply) => {
      try {
        await guard.authorize(request, { kind: 'admin' });
      } catch (error) {
        const { status, headers, outcome } = toErrorResponse(error);
        return reply.status(status).headers(headers).header('content-type', FHIR_JSON).send(JSON.stringify(outcome));
      }
    });
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (reply.statusCode < 400) {
        void reply.header('content-security-policy', DASHBOARD_CSP);
      }
      return payload;
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
  });
}
