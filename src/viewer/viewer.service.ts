import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { actorOf, type AuditEntity } from '../audit/actor.js';
import type { AuditAction, IheTransaction } from '../audit/audit-event-resource.js';
import { AuditService } from '../audit/audit.service.js';
import { insufficientScope } from '../auth/bearer-auth.guard.js';
import { principalOf } from '../auth/principal.js';
import { allows, type Interaction } from '../auth/smart-scopes.js';
import { FhirError, notFound } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { requireSearchScope } from '../fhir/search-scope.js';
import type { BinaryEntity } from '../registry/binary.entity.js';
import { BinaryService } from '../registry/binary.service.js';
import { servedContentType } from '../registry/content-type.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import type { DocumentReferenceEntity } from '../registry/document-reference.entity.js';
import {
  DocumentReferenceRepository,
  parseStored,
  type StoredDocumentReference,
} from '../registry/document-reference.repository.js';
import { parseSearch } from '../registry/document-reference-search.js';
import { DocumentReferenceSearchRepository } from '../registry/document-reference-search.repository.js';
import { DocumentService } from '../registry/document.service.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { NHS_NUMBER_SYSTEM } from '../registry/nhs-number.js';
import { localBinaryId } from '../registry/pointer.js';
import { encodeCursor } from '../registry/search-cursor.js';
import { deliveryViews, type DeliveryView } from './deliveries.js';
import { conceptText, formatFhirDate } from './display.js';
import { documentView, type DocumentView } from './document-view.js';

/** Rows per page of a patient's documents. */
export const PAGE_SIZE = 10;

// replacement chains are short in practice; this only stops a loop in corrupt data
const MAX_CHAIN = 50;

/** Shown inline in the page: formats a browser displays without running anything of the document's. */
const INLINE_TYPES = new Set(['application/pdf', 'image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** One row of a patient's document list. */
export interface ListRow {
  id: string;
  status: string;
  date: string;
  type: string;
  title: string;
  author: string;
  custodian: string;
  /** The DocumentReference that replaced this one. */
  replacedBy?: string;
}

export interface DocumentList {
  nhsNumber: string;
  patientName?: string;
  rows: ListRow[];
  total?: number;
  next?: string;
  previous?: string;
}

export interface AttachmentView {
  index: number;
  title: string;
  contentType: string;
  size?: number;
  /** pdf and image: shown in the page; download: offered; external: a link to where it is held. */
  display: 'pdf' | 'image' | 'download' | 'external';
  url?: string;
}

export interface DocumentPage {
  id: string;
  status: string;
  replacedBy?: string;
  nhsNumber?: string;
  subjectDisplay?: string;
  title: string;
  /** A FHIR document held here, rendered; or the attachments of a pointer. */
  document?: DocumentView;
  attachments: AttachmentView[];
  /** Where its delivery to each recipient stands, as far as the user's organisation may see (the Task API's rule). */
  deliveries: DeliveryView[];
}

export interface ChainLink {
  id: string;
  title: string;
  date: string;
  status: string;
}

export interface HistoryPage {
  id: string;
  title: string;
  nhsNumber?: string;
  versions: { versionId: string; lastUpdated: string; status: string }[];
  /** Oldest first; the document itself included. */
  chain: ChainLink[];
}

export interface AttachmentContent {
  binary: BinaryEntity;
  contentType: string;
  inline: boolean;
  filename: string;
  stream: Readable;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function subjectNhsNumber(resource: StoredDocumentReference): string | undefined {
  const identifier = isObject(resource.subject) ? resource.subject.identifier : undefined;
  return isObject(identifier) && identifier.system === NHS_NUMBER_SYSTEM && typeof identifier.value === 'string'
    ? identifier.value
    : undefined;
}

function titleOf(resource: StoredDocumentReference): string {
  const content = Array.isArray(resource.content) ? (resource.content as Json[]) : [];
  const attachment = isObject(content[0]?.attachment) ? content[0].attachment : {};
  return text(resource.description) || text(attachment.title) || conceptText(resource.type) || 'Untitled document';
}

function displayOf(reference: unknown): string {
  if (!isObject(reference)) {
    return '';
  }
  const identifier = isObject(reference.identifier) ? text(reference.identifier.value) : '';
  return text(reference.display) || identifier;
}

/** The ids a DocumentReference says it replaces. */
function replacedIds(resource: StoredDocumentReference): string[] {
  const relations = Array.isArray(resource.relatesTo) ? (resource.relatesTo as Json[]) : [];
  return relations.flatMap((relation) => {
    const reference = isObject(relation.target) ? text(relation.target.reference) : '';
    const match = /^DocumentReference\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
    return relation.code === 'replaces' && match ? [match[1]] : [];
  });
}

function listRow(row: DocumentReferenceEntity, replacedBy: Map<string, string>): ListRow {
  const resource = parseStored(row);
  const authors = Array.isArray(resource.author) ? (resource.author as unknown[]) : [];
  return {
    id: row.id,
    status: row.status,
    date: formatFhirDate(resource.date),
    type: conceptText(resource.type),
    title: titleOf(resource),
    author: authors.map(displayOf).filter(Boolean).join(', '),
    custodian: displayOf(resource.custodian),
    ...(replacedBy.has(row.id) ? { replacedBy: replacedBy.get(row.id) } : {}),
  };
}

/**
 * What the clinician viewer shows, through the same registry services and access rules as the FHIR API, and audited
 * as the API audits: a search as ITI-67, every document or attachment opened as an ITI-68 read by the signed-in user.
 */
@Injectable()
export class ViewerService {
  constructor(
    private readonly search: DocumentReferenceSearchRepository,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly documents: DocumentService,
    private readonly binaries: BinaryService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly tasks: DeliveryTaskService,
  ) {}

  /** One page of a patient's documents, newest first, superseded and withdrawn ones linked to their replacement. */
  async findDocuments(request: FastifyRequest, nhsNumber: string, cursor?: string): Promise<DocumentList> {
    const params: [string, string][] = [
      ['patient.identifier', `${NHS_NUMBER_SYSTEM}|${nhsNumber}`],
      ['_sort', '-date'],
      ['_count', String(PAGE_SIZE)],
      ...(cursor ? ([['_cursor', cursor]] as [string, string][]) : []),
    ];
    this.require(request, 'DocumentReference', 's');
    requireSearchScope(params, principalOf(request)?.organization, 'DocumentReference');
    const plan = parseSearch(params, { baseUrl: this.config.baseUrl });
    const page = await this.search.search(plan);
    const replacedBy = await this.replacements(page.rows.filter((r) => r.status !== 'current').map((r) => r.id));
    await this.record(request, {
      action: 'E',
      subtype: 'search',
      entities: [{ role: 'query', reference: 'DocumentReference', query: new URLSearchParams(params).toString() }],
      patientNhsNumbers: [nhsNumber],
      custodianOrgs: page.rows.flatMap((r) => (r.custodianOds ? [r.custodianOds] : [])),
      transaction: 'ITI-67',
    });
    const named = page.rows.map((r) => parseStored(r).subject).find((s) => isObject(s) && text(s.display));
    return {
      nhsNumber,
      ...(named ? { patientName: displayOf(named) } : {}),
      rows: page.rows.map((row) => listRow(row, replacedBy)),
      total: page.total,
      ...(page.next ? { next: encodeCursor(page.next) } : {}),
      ...(page.previous ? { previous: encodeCursor(page.previous) } : {}),
    };
  }

  /** A document opened: the FHIR document rendered, or a pointer's attachments listed; audited as a read. */
  async openDocument(request: FastifyRequest, id: string): Promise<DocumentPage> {
    const { row, resource } = await this.documentReference(request, id);
    const entities: AuditEntity[] = [{ reference: `DocumentReference/${id}` }];
    let document: DocumentView | undefined;
    if (row.bundleId) {
      this.require(request, 'Bundle', 'r');
      const bundle = await this.documents.getBundle(row.bundleId);
      const bytes = await this.documents.readBundleBytes(bundle);
      const parsed = /xml/i.test(bundle.contentType) ? parseFhirXml(bytes) : parseFhirJson(bytes);
      document = documentView(parsed);
      entities.push({ reference: `Bundle/${bundle.id}`, role: 'document' });
    }
    const replacedBy = row.status === 'current' ? undefined : (await this.replacements([id])).get(id);
    const principal = principalOf(request);
    const tasks =
      principal && allows(principal.scopes, 'Task', 'r') ? await this.tasks.ofDocument(id, principal.organization) : [];
    entities.push(...tasks.map((task) => ({ reference: `Task/${task.id}` })));
    await this.recordRead(request, row, entities);
    const nhsNumber = row.patientNhsNumber ?? subjectNhsNumber(resource);
    const subjectDisplay = isObject(resource.subject) ? text(resource.subject.display) : '';
    return {
      id,
      status: row.status,
      ...(replacedBy ? { replacedBy } : {}),
      ...(nhsNumber ? { nhsNumber } : {}),
      ...(subjectDisplay ? { subjectDisplay } : {}),
      title: document?.title ?? titleOf(resource),
      ...(document ? { document } : {}),
      attachments: row.bundleId ? [] : this.attachments(resource),
      deliveries: deliveryViews(tasks),
    };
  }

  /** The stored bytes of a document held here, as they were submitted; audited as a read. */
  async original(request: FastifyRequest, id: string): Promise<{ bytes: Buffer; contentType: string }> {
    const { row } = await this.documentReference(request, id);
    if (!row.bundleId) {
      throw notFound(`DocumentReference/${id} points at content held elsewhere, not at a document stored here`);
    }
    this.require(request, 'Bundle', 'r');
    const bundle = await this.documents.getBundle(row.bundleId);
    const bytes = await this.documents.readBundleBytes(bundle);
    await this.recordRead(request, row, [
      { reference: `DocumentReference/${id}` },
      { reference: `Bundle/${bundle.id}`, role: 'document' },
    ]);
    return { bytes, contentType: bundle.contentType };
  }

  /** One attachment of a pointer to a Binary of this server, streamed; audited as a read of that Binary. */
  async attachment(request: FastifyRequest, id: string, index: number): Promise<AttachmentContent> {
    const { row, resource } = await this.documentReference(request, id);
    const attachment = this.attachments(resource).find((a) => a.index === index);
    const url = this.attachmentUrl(resource, index);
    const binaryId = url ? localBinaryId(url, this.config.baseUrl) : undefined;
    if (!attachment || !binaryId) {
      throw notFound(`DocumentReference/${id} has no attachment ${index} held by this server`);
    }
    this.require(request, 'Binary', 'r');
    const binary = await this.binaries.getBinary(binaryId);
    const contentType = servedContentType(binary.contentType);
    const stream = await this.binaries.openBinary(binary);
    try {
      await this.recordRead(request, row, [
        { reference: `DocumentReference/${id}` },
        { reference: `Binary/${binary.id}`, role: 'document' },
      ]);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    const base = contentType.split(';')[0].trim().toLowerCase();
    return {
      binary,
      contentType,
      inline: INLINE_TYPES.has(base),
      filename: `${attachment.title.replace(/[^\w .-]+/g, '_').slice(0, 80) || 'attachment'}${extensionOf(base)}`,
      stream,
    };
  }

  /** The versions of a DocumentReference and the chain of documents it replaced and was replaced by. */
  async history(request: FastifyRequest, id: string): Promise<HistoryPage> {
    const { row, resource } = await this.documentReference(request, id);
    const versions = (await this.documentReferences.history(id)).map(parseStored);
    const chain: ChainLink[] = [this.link(row.id, resource)];
    const seen = new Set([row.id]);
    // back through what each one replaced, then forward through what replaced it
    let earlier = replacedIds(resource)[0];
    while (earlier && !seen.has(earlier) && chain.length < MAX_CHAIN) {
      seen.add(earlier);
      const previous = await this.documentReferences.findById(earlier);
      if (!previous) {
        break;
      }
      const stored = parseStored(previous);
      chain.unshift(this.link(previous.id, stored));
      earlier = replacedIds(stored)[0];
    }
    let later = row.status === 'current' ? undefined : (await this.replacements([id])).get(id);
    while (later && !seen.has(later) && chain.length < MAX_CHAIN) {
      seen.add(later);
      const next = await this.documentReferences.findById(later);
      if (!next) {
        break;
      }
      chain.push(this.link(next.id, parseStored(next)));
      later = next.status === 'current' ? undefined : (await this.replacements([next.id])).get(next.id);
    }
    await this.record(request, {
      action: 'R',
      subtype: 'history',
      entities: [{ reference: `DocumentReference/${id}` }],
      patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
      custodianOrgs: row.custodianOds ? [row.custodianOds] : [],
    });
    return {
      id,
      title: titleOf(resource),
      ...(row.patientNhsNumber ? { nhsNumber: row.patientNhsNumber } : {}),
      versions: versions.map((v) => ({
        versionId: v.meta.versionId,
        lastUpdated: formatFhirDate(v.meta.lastUpdated),
        status: v.status,
      })),
      chain,
    };
  }

  /** A viewer session started or ended, by the user it names. */
  recordSession(request: FastifyRequest, subtype: 'login' | 'logout'): Promise<void> {
    return this.record(request, { action: 'E', subtype, entities: [], patientNhsNumbers: [], custodianOrgs: [] });
  }

  private link(id: string, resource: StoredDocumentReference): ChainLink {
    return { id, title: titleOf(resource), date: formatFhirDate(resource.date), status: resource.status };
  }

  private async documentReference(
    request: FastifyRequest,
    id: string,
  ): Promise<{ row: DocumentReferenceEntity; resource: StoredDocumentReference }> {
    this.require(request, 'DocumentReference', 'r');
    const row = /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? await this.documentReferences.findById(id) : null;
    if (!row) {
      throw notFound(`There is no document ${id} in this registry`);
    }
    return { row, resource: parseStored(row) };
  }

  /** Which DocumentReference replaced each of `ids` (a `replaces` relation on the newer one). */
  private async replacements(ids: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (ids.length === 0) {
      return found;
    }
    const plan = parseSearch(
      [
        ['relatesto', ids.map((id) => `DocumentReference/${id}`).join(',')],
        ['_count', '500'],
      ],
      { baseUrl: this.config.baseUrl },
    );
    for (const row of (await this.search.search(plan)).rows) {
      for (const replaced of replacedIds(parseStored(row))) {
        if (ids.includes(replaced) && !found.has(replaced)) {
          found.set(replaced, row.id);
        }
      }
    }
    return found;
  }

  private attachmentUrl(resource: StoredDocumentReference, index: number): string | undefined {
    const content = Array.isArray(resource.content) ? (resource.content as Json[]) : [];
    const attachment = isObject(content[index]?.attachment) ? content[index].attachment : undefined;
    return attachment && typeof attachment.url === 'string' ? attachment.url : undefined;
  }

  private attachments(resource: StoredDocumentReference): AttachmentView[] {
    const content = Array.isArray(resource.content) ? (resource.content as Json[]) : [];
    return content.flatMap((entry, index): AttachmentView[] => {
      const attachment = isObject(entry.attachment) ? entry.attachment : undefined;
      const url = attachment ? text(attachment.url) : '';
      if (!attachment || !url) {
        return [];
      }
      const contentType = text(attachment.contentType) || 'application/octet-stream';
      const base = contentType.split(';')[0].trim().toLowerCase();
      const local = localBinaryId(url, this.config.baseUrl) !== undefined;
      const display = !local
        ? 'external'
        : base === 'application/pdf'
          ? 'pdf'
          : INLINE_TYPES.has(base)
            ? 'image'
            : 'download';
      return [
        {
          index,
          title: text(attachment.title) || titleOf(resource),
          contentType,
          ...(typeof attachment.size === 'number' ? { size: attachment.size } : {}),
          display,
          // only links a browser can follow safely are offered
          ...(display === 'external' && /^https?:\/\//i.test(url) ? { url } : {}),
        },
      ];
    });
  }

  private require(request: FastifyRequest, resourceType: string, interaction: Interaction): void {
    const principal = principalOf(request);
    if (!principal) {
      throw new FhirError(401, 'login', 'Sign in to see documents');
    }
    if (!allows(principal.scopes, resourceType, interaction)) {
      throw insufficientScope(resourceType, interaction);
    }
  }

  private recordRead(request: FastifyRequest, row: DocumentReferenceEntity, entities: AuditEntity[]): Promise<void> {
    return this.record(request, {
      action: 'R',
      subtype: 'read',
      entities,
      patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
      custodianOrgs: row.custodianOds ? [row.custodianOds] : [],
      transaction: 'ITI-68',
    });
  }

  /** Written before the page leaves: if the audit write fails, the page is not shown (as on the FHIR API). */
  private async record(
    request: FastifyRequest,
    event: {
      action: AuditAction;
      subtype: string;
      entities: AuditEntity[];
      patientNhsNumbers: string[];
      custodianOrgs: string[];
      transaction?: IheTransaction;
    },
  ): Promise<void> {
    await this.audit.record({
      actor: actorOf(request),
      outcome: '0',
      ...event,
      custodianOrgs: [...new Set(event.custodianOrgs)],
    });
  }
}

function extensionOf(contentType: string): string {
  const known: Record<string, string> = {
    'application/pdf': '.pdf',
    'image/png': '.png',
    'image/jpeg': '.jpg',
    'image/gif': '.gif',
    'image/webp': '.webp',
    'text/plain': '.txt',
    'application/fhir+json': '.json',
    'application/fhir+xml': '.xml',
  };
  return known[contentType] ?? '';
}
