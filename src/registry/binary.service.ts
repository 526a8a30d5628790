import { randomUUID } from 'node:crypto';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AppConfig } from '../config/app-config.js';
import { FhirError, invalid, notFound, tooLarge } from '../common/fhir-error.js';
import { BlobStore, BlobTooLargeError, type ByteRange } from '../storage/blob-store.js';
import { IntegrityError, verifyingStream } from '../storage/integrity.js';
import { BinaryEntity } from './binary.entity.js';
import { BinaryRepository } from './binary.repository.js';
import { DocumentWriter } from './document-writer.js';
import { isMediaType, MAX_CONTENT_TYPE_LENGTH } from './content-type.js';
import { purged, readStoredBytes } from './stored-bytes.js';
import type { FhirResource } from '../format/fhir-json.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Binaries: opaque bytes of any type, streamed in and out of the BlobStore. */
@Injectable()
export class BinaryService {
  private readonly logger = new Logger(BinaryService.name);

  constructor(
    private readonly binaries: BinaryRepository,
    private readonly blobs: BlobStore,
    private readonly writer: DocumentWriter,
    private readonly config: AppConfig,
  ) {}

  /** Streams raw bytes to the store (hashing as they pass), then records them. */
  async storeBinary(body: Readable, contentType: string, ownerOds: string | null, actor: Actor): Promise<BinaryEntity> {
    if (!isMediaType(contentType)) {
      body.resume();
      throw invalidContentType();
    }
    // The store destroys what it reads on failure; a pass-through keeps the request socket alive for the 413.
    const guarded = new PassThrough();
    body.pipe(guarded);
    let stored;
    try {
      stored = await this.blobs.put(guarded, { contentType, maxBytes: this.config.maxBinaryBytes });
    } catch (error) {
      body.unpipe(guarded);
      body.resume();
      if (error instanceof BlobTooLargeError) {
        throw tooLarge(`The Binary is larger than the limit of ${error.maxBytes} bytes (MAX_BINARY_BYTES)`);
      }
      throw error;
    }
    const written = await this.writer.create({
      kind: 'create',
      ownerOds,
      binaries: [{ id: randomUUID(), contentType, blob: { stored } }],
      documents: [],
      documentReferences: [],
      onStoredIdentifier: 'conflict',
      audit: { actor, subtype: 'create' },
      now: new Date(),
    });
    return written.binaries[0];
  }

  /** A FHIR Binary resource: its base64 `data` is decoded and stored as raw bytes with its contentType. */
  async storeBinaryResource(resource: FhirResource, ownerOds: string | null, actor: Actor): Promise<BinaryEntity> {
    if (resource.resourceType !== 'Binary') {
      throw invalid(`Expected a Binary resource, got ${resource.resourceType}`, 'resourceType');
    }
    const contentType = resource.contentType;
    if (typeof contentType !== 'string') {
      throw new FhirError(400, 'required', 'Binary.contentType is required and must be a media type', {
        expression: 'Binary.contentType',
      });
    }
    if (!isMediaType(contentType)) {
      throw invalidContentType();
    }
    const data = typeof resource.data === 'string' ? resource.data.replace(/\s+/g, '') : '';
    // Whitespace inside base64 is tolerated (the HL7 R4 example has it); anything else outside the alphabet is not.
    if (!BASE64.test(data) || data.length % 4 !== 0) {
      throw new FhirError(400, 'value', 'Binary.data is not valid base64', { expression: 'Binary.data' });
    }
    return this.storeBinary(Readable.from([Buffer.from(data, 'base64')]), contentType, ownerOds, actor);
  }

  async getBinary(id: string): Promise<BinaryEntity> {
    const row = await this.binaries.findById(id);
    if (!row) {
      throw notFound(`Binary/${id} is not known to this server`);
    }
    if (row.purgedAt !== null) {
      throw purged(`Binary/${id}`, row.purgedAt);
    }
    return row;
  }

  /** The whole object, verified while it streams, or one byte range of it. */
  async openBinary(row: BinaryEntity, range?: ByteRange): Promise<Readable> {
    const stream = await this.blobs.open({ key: row.blobKey }, range);
    if (range) {
      return stream;
    }
    // pipeline, not pipe: when the response destroys the verifier (client gone, send failed) the file closes too.
    return pipeline(stream, verifyingStream(row.blobKey, row.sha256), (error) => {
      if (error instanceof IntegrityError) {
        this.logger.error(`Cut off Binary/${row.id}: ${error.message}`);
      }
    });
  }

  /** The whole object in memory, verified; for the base64 Binary resource form. */
  async readBinaryBytes(row: BinaryEntity): Promise<Buffer> {
    return readStoredBytes(this.blobs, row, `Binary/${row.id}`, this.logger);
  }
}

const invalidContentType = () =>
  new FhirError(
    400,
    'value',
    `Binary.contentType must be one media type (RFC 9110: type/subtype, optionally ; name=value parameters) of at most ${MAX_CONTENT_TYPE_LENGTH} characters`,
    { expression: 'Binary.contentType' },
  );
