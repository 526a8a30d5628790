import { AuditEvent1795720000001 } from './migrations/postgres/1795720000001-AuditEvent.js';
import { AuditEvent1795720000000 } from './migrations/sqlite/1795720000000-AuditEvent.js';
import { AuditCheckpoint1795745000001 } from './migrations/postgres/1795745000001-AuditCheckpoint.js';
import { AuditCheckpoint1795745000000 } from './migrations/sqlite/1795745000000-AuditCheckpoint.js';
import { InitialSchema1795687729458 } from './migrations/postgres/1795687729458-InitialSchema.js';
import { InitialSchema1795687728673 } from './migrations/sqlite/1795687728673-InitialSchema.js';
import { NotificationSchema1795700000001 } from './migrations/postgres/1795700000001-NotificationSchema.js';
import { NotificationSchema1795700000000 } from './migrations/sqlite/1795700000000-NotificationSchema.js';
import { SearchTokenValues1795710000001 } from './migrations/postgres/1795710000001-SearchTokenValues.js';
import { SearchTokenValues1795710000000 } from './migrations/sqlite/1795710000000-SearchTokenValues.js';
import { SubmissionSet1795734000001 } from './migrations/postgres/1795734000001-SubmissionSet.js';
import { SubmissionSet1795734000000 } from './migrations/sqlite/1795734000000-SubmissionSet.js';
import { SubscriptionGrant1795740000001 } from './migrations/postgres/1795740000001-SubscriptionGrant.js';
import { SubscriptionGrant1795740000000 } from './migrations/sqlite/1795740000000-SubscriptionGrant.js';

import { AuditEventParties1795760000001 } from './migrations/postgres/1795760000001-AuditEventParties.js';
import { AuditEventParties1795760000000 } from './migrations/sqlite/1795760000000-AuditEventParties.js';
import { UndeliveredEventIndex1796006762259 } from './migrations/postgres/1796006762259-UndeliveredEventIndex.js';
import { UndeliveredEventIndex1796006761615 } from './migrations/sqlite/1796006761615-UndeliveredEventIndex.js';
import { CompositionDates1796010000001 } from './migrations/postgres/1796010000001-CompositionDates.js';
import { CompositionDates1796010000000 } from './migrations/sqlite/1796010000000-CompositionDates.js';
import { CustodianCreationTokens1796011000001 } from './migrations/postgres/1796011000001-CustodianCreationTokens.js';
import { CustodianCreationTokens1796011000000 } from './migrations/sqlite/1796011000000-CustodianCreationTokens.js';
import { SmartClients1796013332497 } from './migrations/postgres/1796013332497-SmartClients.js';
import { SmartClients1796013331609 } from './migrations/sqlite/1796013331609-SmartClients.js';
import { DeliveryTasks1796014998585 } from './migrations/postgres/1796014998585-DeliveryTasks.js';
import { DeliveryStatusEvents1796024841354 } from './migrations/postgres/1796024841354-DeliveryStatusEvents.js';
import { DeliveryStatusEvents1796024839769 } from './migrations/sqlite/1796024839769-DeliveryStatusEvents.js';
import { LocationTokens1796025147191 } from './migrations/postgres/1796025147191-LocationTokens.js';
import { LocationTokens1796025147190 } from './migrations/sqlite/1796025147190-LocationTokens.js';
import { DeliveryTasks1796014994228 } from './migrations/sqlite/1796014994228-DeliveryTasks.js';
import { PurgedBlobs1796024684867 } from './migrations/postgres/1796024684867-PurgedBlobs.js';
import { PurgedBlobs1796024683495 } from './migrations/sqlite/1796024683495-PurgedBlobs.js';
import { ItkMessaging1796027181950 } from './migrations/postgres/1796027181950-ItkMessaging.js';
import { ItkMessaging1796027180570 } from './migrations/sqlite/1796027180570-ItkMessaging.js';

/** Migrations per dialect, oldest first. `npm run migration:generate -- Name` writes a new file into both folders. */
export const SQLITE_MIGRATIONS: Function[] = [
  InitialSchema1795687728673,
  NotificationSchema1795700000000,
  SearchTokenValues1795710000000,
  AuditEvent1795720000000,
  SubmissionSet1795734000000,
  SubscriptionGrant1795740000000,
  AuditCheckpoint1795745000000,
  AuditEventParties1795760000000,
  UndeliveredEventIndex1796006761615,
  CompositionDates1796010000000,
  CustodianCreationTokens1796011000000,
  SmartClients1796013331609,
  DeliveryTasks1796014994228,
  PurgedBlobs1796024683495,
  DeliveryStatusEvents1796024839769,
  LocationTokens1796025147190,
  ItkMessaging1796027180570,
];
export const POSTGRES_MIGRATIONS: Function[] = [
  InitialSchema1795687729458,
  NotificationSchema1795700000001,
  SearchTokenValues1795710000001,
  AuditEvent1795720000001,
  SubmissionSet1795734000001,
  SubscriptionGrant1795740000001,
  AuditCheckpoint1795745000001,
  AuditEventParties1795760000001,
  UndeliveredEventIndex1796006762259,
  CompositionDates1796010000001,
  CustodianCreationTokens1796011000001,
  SmartClients1796013332497,
  DeliveryTasks1796014998585,
  PurgedBlobs1796024684867,
  DeliveryStatusEvents1796024841354,
  LocationTokens1796025147191,
  ItkMessaging1796027181950,
];
