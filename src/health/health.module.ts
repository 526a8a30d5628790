import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Draining } from './draining.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { Metrics } from './metrics.service.js';
import { ScrapeGauges } from './scrape-gauges.service.js';

/** Liveness, readiness and Prometheus metrics; global so the writer and the delivery service can record metrics. */
@Global()
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
  controllers: [HealthController, MetricsController],
  providers: [Metrics, ScrapeGauges, Draining],
  exports: [Metrics, Draining],
})
export class HealthModule {}
