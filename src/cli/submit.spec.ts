import { mapConcurrently } from './submit.js';

describe('mapConcurrently', () => {
  it('runs at most `concurrency` at once and keeps the order of the items', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapConcurrently([50, 10, 30, 5, 20, 1], 3, async (ms) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running -= 1;
      return ms * 2;
    });
    expect(results).toEqual([100, 20, 60, 10, 40, 2]);
    expect(peak).toBe(3);
  });

  it('handles no items', async () => {
    expect(await mapConcurrently([], 4, () => Promise.resolve(1))).toEqual([]);
  });
});
