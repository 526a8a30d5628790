import { AsyncLocalStorage } from 'node:async_hooks';
import type { LoggerService } from '@nestjs/common';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';

export type AppLogger = Logger;

/** The logger of the request being handled (a child carrying its requestId), for log calls made inside it. */
export const requestLogs = new AsyncLocalStorage<Pick<Logger, Level>>();

// Headers and URLs are never logged on purpose; these paths catch anything that logs a raw request by mistake.
const REDACTED = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.url',
  'headers.authorization',
  'headers.cookie',
  'res.headers["set-cookie"]',
];

/** One JSON object per line on stdout (or `destination`), at LOG_LEVEL. */
export function createAppLogger(level: 'debug' | 'info' | 'warn' | 'error', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED, censor: '[redacted]' },
      // Fastify's default request serializer writes the raw URL (query strings carry NHS numbers): method and route only
      serializers: {
        req: (request: { method?: string; routeOptions?: { url?: string } }) => ({
          method: request.method,
          route: request.routeOptions?.url,
        }),
        res: (reply: { statusCode?: number }) => ({ status: reply.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}

/** Nest's LoggerService over pino: every `new Logger(context)` call becomes a JSON line with its context. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly root: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.root.isLevelEnabled(level)) {
      return;
    }
    const logger = requestLogs.getStore() ?? this.root;
    // Nest appends the context last; Logger.error puts a stack (or undefined) before it
    const rest = [...params];
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? rest.pop() : undefined;
    const stack = level === 'error' && typeof rest[0] === 'string' ? rest[0] : undefined;
    if (message instanceof Error) {
      logger[level]({ context, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      logger[level]({ context, ...message });
    } else {
      logger[level]({ context, ...(stack ? { stack } : {}) }, String(message));
    }
  }
}
