import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

export type SubscriptionStatus = 'requested' | 'active' | 'error' | 'off';
export type SubscriptionKind = 'classic' | 'backport';
/** What a notification carries: classic R4 sends the resource or nothing; the backport IG adds id-only. */
export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

/** A rest-hook Subscription owned by one organisation; the FHIR JSON minus its secret, plus delivery state. */
@Entity('subscription')
@Index('ix_subscription_owner', ['ownerOds'])
@Index('ix_subscription_status', ['status'])
export class SubscriptionEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'version_id', type: 'integer' })
  versionId!: number;

  /** ODS code of the organisation whose token created it. */
  @Column({ name: 'owner_ods', type: 'varchar', length: 32 })
  ownerOds!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: SubscriptionStatus;

  @Column({ type: 'varchar', length: 16 })
  kind!: SubscriptionKind;

  /** The DocumentReference search a document must match (classic criteria or the backport filter). */
  @Column({ name: 'match_query', type: 'text' })
  matchQuery!: string;

  @Column({ type: 'varchar', length: 2048 })
  endpoint!: string;

  @Column({ name: 'payload_content', type: 'varchar', length: 16 })
  payloadContent!: PayloadContent;

  /** Standard Webhooks signing secret (`whsec_...`); never rendered in reads. */
  @Column({ type: 'varchar', length: 256 })
  secret!: string;

  @Column({ name: 'heartbeat_period_s', type: 'integer', nullable: true })
  heartbeatPeriodSeconds!: number | null;

  /** Highest event-number assigned so far (backport events-since-subscription-start). */
  @Column({ name: 'event_count', type: 'integer' })
  eventCount!: number;

  @Column({ name: 'consecutive_failures', type: 'integer' })
  consecutiveFailures!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** When the endpoint was last sent anything (event, handshake, heartbeat), for heartbeat scheduling. */
  @Column({ name: 'last_sent_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  lastSentMs!: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;

  /**
   * The SMART scopes of the token that created or last changed it (space-separated), re-checked before every
   * delivery; null on rows from before grants were kept, which therefore deliver nothing until updated.
   */
  @Column({ name: 'granted_scopes', type: 'text', nullable: true })
  grantedScopes!: string | null;

  @Column({ type: 'text' })
  resource!: string;
}
