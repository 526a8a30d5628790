import { readFile } from 'node:fs/promises';
import { type DynamicModule, Inject, Injectable, Logger, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AppConfig, ConfigError } from '../config/app-config.js';
import { EndpointAllowlist } from '../notifications/endpoint-safety.js';
import { ClientKeySets } from './client-key-sets.js';
import { AUTH_ENTITIES } from './entities.js';
import { parseClientsFile } from './smart-client.js';
import { SmartClientRepository } from './smart-client.repository.js';
import { TokenController } from './token.controller.js';
import { TokenService } from './token.service.js';

/** Registers the clients of AUTH_CLIENTS_FILE at boot; a bad file stops the process, naming the variable. */
@Injectable()
export class ClientsFileLoader implements OnApplicationBootstrap {
  private readonly logger = new Logger(ClientsFileLoader.name);

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly clients: SmartClientRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const file = this.config.auth.clientsFile;
    if (!file) {
      return;
    }
    let registrations;
    try {
      const allowlist = new EndpointAllowlist(this.config.notifications.endpointAllowlist);
      registrations = parseClientsFile(await readFile(file, 'utf8'), allowlist);
    } catch (error) {
      throw new ConfigError('AUTH_CLIENTS_FILE', `(${file}) ${(error as Error).message}`);
    }
    for (const registration of registrations) {
      await this.clients.register(registration);
    }
    this.logger.log(`Registered ${registrations.length} SMART Backend Services clients from ${file}`);
  }
}

/**
 * The local issuer's SMART Backend Services token endpoint and its client registry. With AUTH_JWKS_URI the identity
 * provider issues tokens, so the route is not served at all (404) and no clients file is read.
 */
@Module({})
export class SmartTokenModule {
  static forRoot(config: AppConfig): DynamicModule {
    const local = !config.auth.jwksUri && config.appRoles.includes('api');
    return {
      module: SmartTokenModule,
      imports: [TypeOrmModule.forFeature(AUTH_ENTITIES), AuditModule],
      controllers: local ? [TokenController] : [],
      providers: local ? [SmartClientRepository, ClientKeySets, TokenService, ClientsFileLoader] : [],
    };
  }
}
