import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { FhirResource } from './fhir-json.js';
import { DocumentReferenceEntity } from './document-reference.entity.js';
import { DocumentReferenceTokenEntity } from './document-reference-token.entity.js';
import { DocumentReferenceVersionEntity } from './document-reference-version.entity.js';
import { documentReferenceTokens } from './document-reference-tokens.js';

export interface IndexedDocumentReference {
  resource: FhirResource;
  patientNhsNumber: string | null;
  custodianOds: string | null;
  bundleId: string | null;
  recipients: string[];
}

interface Coding {
  system?: string;
  code?: string;
}

/** Storage of DocumentReferences: current row, search tokens and the version history, always written together. */
@Injectable()
export class DocumentReferenceRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Inserts version 1 of a DocumentReference inside the caller's transaction. */
  async insert(manager: EntityManager, doc: IndexedDocumentReference): Promise<void> {
    const resource = doc.resource as FhirResource & {
      id: string;
      date?: string;
      meta: { versionId: string; lastUpdated: string };
      type?: { coding?: Coding[] };
      status: string;
    };
    const lastUpdatedMs = Date.parse(resource.meta.lastUpdated);
    const json = JSON.stringify(resource);
    const firstType = resource.type?.coding?.find((c) => c.code);
    await manager.insert(DocumentReferenceEntity, {
      id: resource.id,
      versionId: Number(resource.meta.versionId),
      status: resource.status,
      patientNhsNumber: doc.patientNhsNumber,
      typeSystem: firstType?.system ?? null,
      typeCode: firstType?.code ?? null,
      custodianOds: doc.custodianOds,
      dateMs: resource.date ? Date.parse(resource.date) : null,
      lastUpdatedMs,
      bundleId: doc.bundleId,
      resource: json,
    });
    const tokens = documentReferenceTokens(resource, doc.recipients);
    if (tokens.length > 0) {
      await manager.insert(
        DocumentReferenceTokenEntity,
        tokens.map((t) => ({ ...t, documentReferenceId: resource.id })),
      );
    }
    await manager.insert(DocumentReferenceVersionEntity, {
      documentReferenceId: resource.id,
      versionId: Number(resource.meta.versionId),
      lastUpdatedMs,
      resource: json,
    });
  }

  async findById(id: string): Promise<DocumentReferenceEntity | null> {
    return this.dataSource.getRepository(DocumentReferenceEntity).findOneBy({ id });
  }

  async findByBundleId(manager: EntityManager, bundleId: string): Promise<DocumentReferenceEntity | null> {
    return manager.getRepository(DocumentReferenceEntity).findOneBy({ bundleId });
  }

  /** Current DocumentReferences whose subject carries this identifier, newest first. */
  async findByPatientIdentifier(system: string | null, value: string, limit: number): Promise<DocumentReferenceEntity[]> {
    const query = this.dataSource
      .getRepository(DocumentReferenceEntity)
      .createQueryBuilder('d')
      .innerJoin(DocumentReferenceTokenEntity, 't', 't.document_reference_id = d.id')
      .where('t.param = :param AND t.code = :value', { param: 'patient.identifier', value })
      .orderBy('d.date_ms', 'DESC')
      .addOrderBy('d.id', 'ASC')
      .limit(limit);
    if (system !== null) {
      query.andWhere('t.system = :system', { system });
    }
    return query.getMany();
  }
}
