import { Logger } from '@nestjs/common';
import { ConfigError, loadConfigFromProcess } from './config/app-config.js';
import { createApp } from './bootstrap.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfigFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const app = await createApp(config);
  await app.listen(config.port, config.host);
  new Logger('Main').log(`FHIR registry listening on ${config.baseUrl}/fhir (database ${config.database.kind}, blobs ${config.blobStore.kind})`);
}

void main();
