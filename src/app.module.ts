import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuditAuthFailureRecorder } from './audit/audit-auth-failure-recorder.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { SmartTokenModule } from './auth/smart-token.module.js';
import { FhirExceptionFilter } from './common/fhir-exception.filter.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { FhirModule } from './fhir/fhir.module.js';
import { HealthModule } from './health/health.module.js';
import { MessagingModule } from './messaging/messaging.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { StorageModule } from './storage/storage.module.js';
import { ViewerModule } from './viewer/viewer.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        StorageModule,
        AuthModule.forRoot({ failureRecorder: AuditAuthFailureRecorder, imports: [AuditModule] }),
        AuditModule,
        SmartTokenModule.forRoot(config),
        FhirModule,
        HealthModule,
        NotificationsModule.forRoot(config),
        MessagingModule,
        ViewerModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: FhirExceptionFilter }],
    };
  }
}
