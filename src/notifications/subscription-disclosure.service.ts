import { Injectable } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import { DocumentReferenceSearchRepository } from '../registry/document-reference-search.repository.js';
import { NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM } from '../registry/nhs-number.js';
import { isDeliveryStatusCriteria, matchesDeliveryStatus, parseDeliveryStatusCriteria } from './delivery-status.js';
import { ownDocumentCriteria } from './subscription-policy.js';
import type { SubscriptionEntity } from './subscription.entity.js';

/** One DocumentReference (or delivery Task) version a notification or $events answer reveals to a subscriber. */
export interface Disclosure {
  documentReferenceId: string;
  resource: Record<string, unknown>;
  /** `Task/{id}` when what is revealed is a delivery Task (of documentReferenceId); else the DocumentReference. */
  reference?: string;
}

/** An outbox event as routing and delivery see it: a document's change, or a delivery Task's step (taskId). */
export interface RoutedEvent {
  documentReferenceId: string;
  versionId: string;
  taskId?: string | null;
}

/** How the documents left: pushed to the endpoint (`notify`) or read back through $events (`notify-events`). */
export type DisclosureChannel = 'notify' | 'notify-events';

type IdentifiedBy = { identifier?: { system?: string; value?: string } } | undefined;

/** The identifier value a reference of a DocumentReference carries in `system`, or ''. */
function identifierIn(reference: unknown, system: string): string {
  const identifier = (reference as IdentifiedBy)?.identifier;
  return identifier?.system === system && identifier.value ? identifier.value : '';
}

/** Which documents a subscription may receive, and the audit trail of those it was sent. */
@Injectable()
export class SubscriptionDisclosure {
  constructor(
    private readonly search: DocumentReferenceSearchRepository,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly tasks: DeliveryTaskService,
  ) {}

  private patientWide(ods: string): boolean {
    return this.config.notifications.patientWideOrgs.includes(ods);
  }

  /**
   * Whether an event is for this subscription: a document's change for a document-available subscription (criteria
   * and reach), a Task's step for a delivery-status subscription of the Task's sender (filters) only.
   */
  async receivesEvent(subscription: SubscriptionEntity, event: RoutedEvent): Promise<boolean> {
    const taskTopic = isDeliveryStatusCriteria(subscription.matchQuery);
    if (!event.taskId) {
      return !taskTopic && this.receives(subscription, event.documentReferenceId);
    }
    if (!taskTopic) {
      return false;
    }
    const task = await this.tasks.resourceAt(event.taskId, Number(event.versionId));
    return (
      task !== undefined &&
      matchesDeliveryStatus(parseDeliveryStatusCriteria(subscription.matchQuery), task.row, subscription.ownerOds)
    );
  }

  /** Whether the subscriber may still be sent what an event reveals (re-checked at delivery and for $events). */
  async reachesEvent(subscription: SubscriptionEntity, event: RoutedEvent): Promise<boolean> {
    if (!event.taskId) {
      return (
        !isDeliveryStatusCriteria(subscription.matchQuery) && this.reaches(subscription, event.documentReferenceId)
      );
    }
    // a Task's events go to its sender alone, whatever the operator allows for documents
    const task = await this.tasks.resourceAt(event.taskId, Number(event.versionId));
    return task?.row.requesterOds === subscription.ownerOds;
  }

  /** Whether a document matches the subscription's criteria and lies within its organisation's reach. */
  async receives(subscription: SubscriptionEntity, documentReferenceId: string): Promise<boolean> {
    return (
      (await this.search.matches(subscription.matchQuery, documentReferenceId)) &&
      (await this.reaches(subscription, documentReferenceId))
    );
  }

  /** Whether a document is addressed to or held by the subscriber's organisation (or it may see any). */
  async reaches(subscription: SubscriptionEntity, documentReferenceId: string): Promise<boolean> {
    if (this.patientWide(subscription.ownerOds)) {
      return true;
    }
    for (const criteria of ownDocumentCriteria(subscription.ownerOds)) {
      if (await this.search.matches(criteria, documentReferenceId)) {
        return true;
      }
    }
    return false;
  }

  /** One AuditEvent per patient whose documents reached the subscriber, written before they leave. */
  async record(
    subscription: SubscriptionEntity,
    disclosures: Disclosure[],
    channel: DisclosureChannel,
    actor: Actor,
  ): Promise<void> {
    const byPatient = new Map<string, Disclosure[]>();
    for (const disclosure of disclosures) {
      const patient = identifierIn(disclosure.resource.subject ?? disclosure.resource.for, NHS_NUMBER_SYSTEM);
      byPatient.set(patient, [...(byPatient.get(patient) ?? []), disclosure]);
    }
    for (const [patient, documents] of byPatient) {
      const custodians = documents.map((d) =>
        identifierIn(d.resource.custodian ?? d.resource.requester, ODS_ORGANIZATION_SYSTEM),
      );
      await this.audit.record({
        actor: { ...actor, organization: subscription.ownerOds },
        action: 'R',
        subtype: channel,
        outcome: '0',
        entities: [
          ...documents.map((d) => ({ reference: d.reference ?? `DocumentReference/${d.documentReferenceId}` })),
          { reference: `Subscription/${subscription.id}` },
        ],
        // the custodians' auditors see where their documents went
        custodianOrgs: [...new Set(custodians.filter(Boolean))],
        patientNhsNumbers: patient ? [patient] : [],
      });
    }
  }
}
