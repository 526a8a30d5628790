import { EndpointGate } from './endpoint-gate.js';

const A = 'https://gp-a.example';
const B = 'https://gp-b.example';
const settings = { maxInFlight: 2, backoffBaseMs: 1000, requestTimeoutMs: 5000 };
// random() = 1 makes the jittered back-off its ceiling and the spreads their widest
const gate = () => new EndpointGate(settings, () => 1);

describe('EndpointGate', () => {
  it('sends one request at a time to an endpoint until it answers, so one that hangs holds a single slot', () => {
    const g = gate();
    expect(g.admit(A, 0)).toEqual({ admitted: true });
    expect(g.admit(A, 0)).toMatchObject({ admitted: false, reason: expect.stringContaining('not been answered') });
    expect(g.admit(B, 0)).toEqual({ admitted: true });
  });

  it('admits up to maxInFlight requests per endpoint that answers and defers the next briefly, other endpoints unaffected', () => {
    const g = gate();
    g.admit(A, 0);
    g.settle(A, true, 0);
    expect(g.admit(A, 0)).toEqual({ admitted: true });
    expect(g.admit(A, 0)).toEqual({ admitted: true });
    const third = g.admit(A, 0);
    expect(third).toMatchObject({ admitted: false, reason: expect.stringContaining('2 deliveries in flight') });
    expect(third.admitted === false && third.retryAt).toBeGreaterThan(0);
    expect(third.admitted === false && third.retryAt).toBeLessThanOrEqual(500);
    expect(g.admit(B, 0)).toEqual({ admitted: true });
    g.settle(A, true, 10);
    expect(g.admit(A, 10)).toEqual({ admitted: true });
  });

  it('backs a failing endpoint off as a whole, exponentially, and defers every delivery to it without a request', () => {
    const g = gate();
    g.admit(A, 0);
    expect(g.settle(A, false, 0)).toBe(1000 + 500); // back-off 1 s, then spread over half of it
    expect(g.failing).toBe(1);
    const deferred = g.admit(A, 999);
    expect(deferred).toMatchObject({ admitted: false, retryAt: 1500, reason: expect.stringContaining('1 time(s)') });
    // after the back-off one probe goes out; the others wait for its answer
    expect(g.admit(A, 1000)).toEqual({ admitted: true });
    expect(g.admit(A, 1000)).toMatchObject({ admitted: false, reason: 'a probe of the failing endpoint is out' });
    // the probe fails: the back-off doubles
    expect(g.settle(A, false, 1000)).toBe(1000 + 2000 + 1000);
    expect(g.admit(A, 2999)).toMatchObject({ admitted: false });
    expect(g.admit(A, 3000)).toEqual({ admitted: true });
    // it answers: open for everyone at once
    expect(g.settle(A, true, 3000)).toBeUndefined();
    expect(g.failing).toBe(0);
    expect(g.admit(A, 3000)).toEqual({ admitted: true });
    expect(g.admit(A, 3000)).toEqual({ admitted: true });
  });

  it('counts requests that were out together as one failure, and leaves health alone when nothing was sent', () => {
    const g = gate();
    g.admit(A, 0);
    g.settle(A, true, 0);
    g.admit(A, 0);
    g.admit(A, 0);
    g.settle(A, false, 100);
    g.settle(A, false, 200); // same outage, already backing off
    expect(g.admit(A, 1099)).toMatchObject({ admitted: false, reason: expect.stringContaining('1 time(s)') });
    const h = gate();
    h.admit(B, 0);
    expect(h.settle(B, undefined, 0)).toBeUndefined();
    expect(h.failing).toBe(0);
    expect(h.admit(B, 0)).toEqual({ admitted: true });
    // a probe that answers reopens the endpoint to maxInFlight at once
    const k = gate();
    k.admit(A, 0);
    k.settle(A, false, 0);
    k.admit(A, 1000);
    k.settle(A, true, 1001);
    expect([k.admit(A, 1001), k.admit(A, 1001)]).toEqual([{ admitted: true }, { admitted: true }]);
  });
});
