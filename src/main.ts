import { Logger } from '@nestjs/common';
import { ConfigError, loadConfigFromProcess } from './config/app-config.js';
import { createApp, stopOnSignals } from './bootstrap.js';

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
  stopOnSignals(app, config);
  if (!config.appRoles.includes('api')) {
    // Worker only: the relay and delivery run; the port answers only /health and /metrics.
    new Logger('Main').log(
      `FHIR registry worker running (database ${config.database.kind}), health and metrics on ${config.baseUrl}`,
    );
    return;
  }
  new Logger('Main').log(
    `FHIR registry listening on ${config.baseUrl}/fhir (database ${config.database.kind}, blobs ${config.blobStore.kind})`,
  );
}

main().catch((error: unknown) => {
  // a setting checked at start-up (e.g. the audit key file) stops the process like one checked in loadConfig
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
});
