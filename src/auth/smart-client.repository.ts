import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { placeholders, selectRows } from '../database/plain-sql.js';
import { ClientAssertionJtiEntity } from './client-assertion-jti.entity.js';
import type { SmartClientRegistration } from './smart-client.js';
import { SmartClientEntity } from './smart-client.entity.js';

/** Registered SMART Backend Services clients, and the assertion ids they have used. */
@Injectable()
export class SmartClientRepository {
  constructor(private readonly dataSource: DataSource) {}

  find(clientId: string): Promise<SmartClientEntity | null> {
    return this.dataSource.getRepository(SmartClientEntity).findOneBy({ clientId });
  }

  list(): Promise<SmartClientEntity[]> {
    return this.dataSource.getRepository(SmartClientEntity).find({ order: { clientId: 'ASC' } });
  }

  /**
   * Registers a client, or replaces the keys, name, organisation and scopes of one already registered. A disabled
   * client stays disabled (only `enable` lifts that); `disabled: true` disables it. One statement, so processes
   * loading the same clients file at once do not collide.
   */
  async register(client: SmartClientRegistration, nowMs = Date.now()): Promise<'created' | 'updated'> {
    const existed = (await this.find(client.clientId)) !== null;
    const manager = this.dataSource.manager;
    await manager.query(
      placeholders(
        manager,
        `INSERT INTO "smart_client" ("client_id", "name", "jwks", "jwks_uri", "organization", "scopes", "created_ms", "disabled_ms")
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT ("client_id") DO UPDATE SET "name" = excluded."name", "jwks" = excluded."jwks",
           "jwks_uri" = excluded."jwks_uri", "organization" = excluded."organization", "scopes" = excluded."scopes",
           "disabled_ms" = COALESCE("smart_client"."disabled_ms", excluded."disabled_ms")`,
      ),
      [
        client.clientId,
        client.name,
        client.jwks ? JSON.stringify(client.jwks) : null,
        client.jwksUri ?? null,
        client.organization,
        client.scopes,
        nowMs,
        client.disabled ? nowMs : null,
      ],
    );
    return existed ? 'updated' : 'created';
  }

  /** Disables (refuses every further assertion of) or re-enables a client; false when there is no such client. */
  async setDisabled(clientId: string, disabled: boolean, nowMs = Date.now()): Promise<boolean> {
    const result = await this.dataSource
      .getRepository(SmartClientEntity)
      .update({ clientId }, { disabledMs: disabled ? nowMs : null });
    return (result.affected ?? 0) > 0;
  }

  /**
   * Records an assertion's jti for its client until `expiresMs`; false when it was already used and has not expired
   * yet (a replay). One atomic statement: of two concurrent requests with the same jti, in any process, one loses.
   * An expired row is taken over, so a jti is refused for exactly as long as its assertion could be accepted.
   */
  async claimJti(clientId: string, jti: string, expiresMs: number, nowMs = Date.now()): Promise<boolean> {
    const manager = this.dataSource.manager;
    const rows = await manager.query<unknown[]>(
      placeholders(
        manager,
        `INSERT INTO "client_assertion_jti" ("client_id", "jti", "expires_ms") VALUES (?, ?, ?)
         ON CONFLICT ("client_id", "jti") DO UPDATE SET "expires_ms" = excluded."expires_ms"
         WHERE "client_assertion_jti"."expires_ms" <= ?
         RETURNING "jti"`,
      ),
      [clientId, jti, expiresMs, nowMs],
    );
    return rows.length === 1;
  }

  /** Forgets jtis whose assertions have expired. */
  async purgeExpiredJtis(nowMs = Date.now()): Promise<void> {
    const manager = this.dataSource.manager;
    await manager.query(placeholders(manager, 'DELETE FROM "client_assertion_jti" WHERE "expires_ms" <= ?'), [nowMs]);
  }

  /** The jtis still held, for tests and operators. */
  heldJtis(clientId: string): Promise<ClientAssertionJtiEntity[]> {
    return selectRows(this.dataSource.manager, ClientAssertionJtiEntity, '"client_id" = ?', [clientId]);
  }
}
