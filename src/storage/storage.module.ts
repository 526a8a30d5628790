import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { BlobStore } from './blob-store.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';
import { S3BlobStore, createS3Client } from './s3-blob-store.js';

/** Picks the BlobStore adapter from BLOB_STORE (file: or s3://). */
@Global()
@Module({
  providers: [
    {
      provide: BlobStore,
      inject: [AppConfig],
      useFactory: (config: AppConfig): BlobStore => {
        const location = config.blobStore;
        if (location.kind === 'file') {
          return new FilesystemBlobStore(location.directory);
        }
        return new S3BlobStore({
          client: createS3Client({
            endpoint: config.s3.endpoint,
            region: config.s3.region,
            forcePathStyle: config.s3.forcePathStyle,
          }),
          bucket: location.bucket,
          prefix: location.prefix,
          partSize: config.s3.partSizeBytes,
          queueSize: config.s3.queueSize,
        });
      },
    },
  ],
  exports: [BlobStore],
})
export class StorageModule {}
