import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { placeholders } from '../database/plain-sql.js';

/** Which blob keys the registry still points at: the rows of stored documents and Binaries whose bytes are kept. */
@Injectable()
export class BlobReferenceRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The keys among `keys` that a document Bundle or Binary row names and that no purge has released, in one query
   * (both tables have an index on blob_key). A purged row's key counts as unreferenced: its blob may go.
   */
  async referencedAmong(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) {
      return new Set();
    }
    const list = keys.map(() => '?').join(', ');
    const rows = await this.dataSource.query<{ blob_key: string }[]>(
      placeholders(
        this.dataSource.manager,
        `SELECT blob_key FROM document_bundle WHERE blob_key IN (${list}) AND purged_at IS NULL ` +
          `UNION SELECT blob_key FROM "binary" WHERE blob_key IN (${list}) AND purged_at IS NULL`,
      ),
      [...keys, ...keys],
    );
    return new Set(rows.map((row) => row.blob_key));
  }
}
