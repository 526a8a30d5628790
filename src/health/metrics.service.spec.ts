import { Metrics } from './metrics.service.js';

const value = async (metrics: Metrics, series: string): Promise<number | undefined> => {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('Metrics', () => {
  it('adds stored documents to the counters and to the held gauges counted at start', async () => {
    const metrics = new Metrics();
    metrics.addHeld('document', 10, 5000);
    metrics.recordStored('document', 300);
    expect(await value(metrics, 'registry_objects{kind="document"}')).toBe(11);
    expect(await value(metrics, 'registry_bytes{kind="document"}')).toBe(5300);
    expect(await value(metrics, 'registry_stored_objects_total{kind="document"}')).toBe(1);
    expect(await value(metrics, 'registry_stored_bytes_total{kind="document"}')).toBe(300);
    expect(await value(metrics, 'registry_objects{kind="binary"}')).toBeUndefined();
  });

  it('times a delivery from the commit only when it got a 2xx', async () => {
    const metrics = new Metrics();
    metrics.recordDelivery('event-notification', 'failure', Date.now() - 5000);
    metrics.recordDelivery('event-notification', 'refused');
    metrics.recordDelivery('handshake', 'success');
    expect(await value(metrics, 'registry_notification_delivery_seconds_count')).toBe(0);
    metrics.recordDelivery('event-notification', 'success', Date.now() - 3000);
    expect(await value(metrics, 'registry_notification_delivery_seconds_count')).toBe(1);
    expect(await value(metrics, 'registry_notification_delivery_seconds_bucket{le="2.5"}')).toBe(0);
    expect(await value(metrics, 'registry_notification_delivery_seconds_bucket{le="5"}')).toBe(1);
    expect(await value(metrics, 'registry_delivery_attempts_total{type="event-notification",outcome="failure"}')).toBe(
      1,
    );
    expect(await value(metrics, 'registry_delivery_attempts_total{type="handshake",outcome="success"}')).toBe(1);
  });

  it('keeps one registry per instance, so several applications can share a process', async () => {
    const first = new Metrics();
    const second = new Metrics();
    first.recordStored('binary', 1);
    expect(await value(first, 'registry_stored_objects_total{kind="binary"}')).toBe(1);
    expect(await value(second, 'registry_stored_objects_total{kind="binary"}')).toBeUndefined();
  });
});
