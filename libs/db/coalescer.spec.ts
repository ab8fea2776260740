import { Coalescer } from './coalescer';

/** A round trip that the test finishes by hand, recording what each one carried. */
function manualRoundTrips() {
  const trips: Array<{ inputs: number[]; finish: (err?: Error) => void }> = [];
  const roundTrip = (inputs: number[]): Promise<number[]> =>
    new Promise((resolve, reject) => {
      trips.push({ inputs, finish: (err) => (err ? reject(err) : resolve(inputs.map((n) => n * 10))) });
    });
  return { trips, roundTrip };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Coalescer', () => {
  it('sends calls of the same turn together and answers each its own output', async () => {
    const { trips, roundTrip } = manualRoundTrips();
    const c = new Coalescer(roundTrip, 1);
    const answers = Promise.all([c.call(1), c.call(2), c.call(3)]);
    await tick();
    expect(trips.map((t) => t.inputs)).toEqual([[1, 2, 3]]);
    trips[0].finish();
    await expect(answers).resolves.toEqual([10, 20, 30]);
  });

  it('holds calls made while the round trips in flight are at the limit, then sends them in one', async () => {
    const { trips, roundTrip } = manualRoundTrips();
    const c = new Coalescer(roundTrip, 1);
    const first = c.call(1);
    await tick();
    const later = [c.call(2), c.call(3), c.call(4)];
    await tick();
    expect(trips).toHaveLength(1);
    trips[0].finish();
    await first;
    await tick();
    expect(trips.map((t) => t.inputs)).toEqual([[1], [2, 3, 4]]);
    trips[1].finish();
    await expect(Promise.all(later)).resolves.toEqual([20, 30, 40]);
  });

  it('runs up to maxInFlight round trips at once, each at most maxBatch calls', async () => {
    const { trips, roundTrip } = manualRoundTrips();
    const c = new Coalescer(roundTrip, 2, 2);
    const all = [1, 2, 3, 4, 5].map((n) => c.call(n));
    for (let i = 0; i < 3; i++) await tick();
    expect(trips.map((t) => t.inputs)).toEqual([[1, 2], [3, 4]]);
    trips[0].finish();
    for (let i = 0; i < 3; i++) await tick();
    expect(trips.map((t) => t.inputs)).toEqual([[1, 2], [3, 4], [5]]);
    trips[1].finish();
    trips[2].finish();
    await expect(Promise.all(all)).resolves.toEqual([10, 20, 30, 40, 50]);
  });

  it('fails every call of a failed round trip, and goes on with the next calls', async () => {
    const { trips, roundTrip } = manualRoundTrips();
    const c = new Coalescer(roundTrip, 1);
    const failed = [c.call(1), c.call(2)];
    await tick();
    trips[0].finish(new Error('connection lost'));
    for (const p of failed) await expect(p).rejects.toThrow('connection lost');
    const next = c.call(3);
    await tick();
    trips[1].finish();
    await expect(next).resolves.toBe(30);
  });
});
