import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Draining } from './draining.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { Metrics } from './metrics.service.js';
import { ScrapeGauges } from './scrape-gauges.service.js';
import { StoredTotals } from '../registry/stored-totals.js';

/** Liveness, readiness and Prometheus metrics; global so the writer (through its StoredTotals port) and the delivery service can record metrics. */
@Global()
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
  controllers: [HealthController, MetricsController],
  providers: [Metrics, ScrapeGauges, Draining, { provide: StoredTotals, useExisting: Metrics }],
  exports: [Metrics, StoredTotals, Draining],
})
export class HealthModule {}
