import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { registerBodyParsing } from './fhir/body-parsing.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug'];

/** Nest's levels at and above LOG_LEVEL (info = Nest's log). */
function nestLogLevels(level: AppConfig['logLevel']): LogLevel[] {
  const index = { error: 0, warn: 1, info: 2, debug: 3 }[level];
  return LEVELS.slice(0, index + 1);
}

/** Builds the API application (not yet listening); main.ts and the tests share it. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    requestTimeout: config.requestTimeoutMs,
    maxParamLength: 200,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bodyParser: false,
    logger: nestLogLevels(config.logLevel),
  });
  registerBodyParsing(app.getHttpAdapter().getInstance(), config.maxResourceBytes);
  app.enableShutdownHooks();
  return app;
}
