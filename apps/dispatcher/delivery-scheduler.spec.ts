import { EngineConfig } from '../../libs/config';
import { Logger } from '../../libs/observability';
import { waitFor } from '../../libs/testing/wait-for';
import { DeliveryScheduler } from './delivery-scheduler';
import { DeliveryStore } from './delivery-store';
import { WebhookDelivery } from './webhook-delivery';

/** A delivery loop the test ends when it wants: true when its success emptied the queue and let the lease go. */
interface Loop {
  webhookId: string;
  signal: AbortSignal;
  finishing: AbortSignal;
  end: (released: boolean) => void;
}

/** The scheduler over a fake store and fake loops: `claims` answers each claimDue call in turn (then nothing). */
function scheduler(
  claims: Array<string[] | Promise<string[]>>,
  dispatchConcurrency = 10,
  renew: (ids: string[]) => Promise<string[]> = async (ids) => ids,
) {
  const claimCalls: string[][] = [];
  const released: string[] = [];
  const loops: Loop[] = [];
  let running = 0;
  let mostRunning = 0;
  const repo = {
    claimDue: async (_owner: string, _now: number, _leaseMs: number, exclude: string[]) => {
      claimCalls.push(exclude);
      return claims.shift() ?? [];
    },
    releaseLease: async (_owner: string, webhookId: string) => void released.push(webhookId),
    renewLeases: (_owner: string, ids: string[]) => renew(ids),
  };
  const delivery = {
    deliverQueue: (webhookId: string, _owner: string, signal: AbortSignal, finishing: AbortSignal) =>
      new Promise<boolean>((resolve) => {
        mostRunning = Math.max(mostRunning, ++running);
        loops.push({ webhookId, signal, finishing, end: (r) => (running--, resolve(r)) });
      }),
    generationOf: () => undefined,
  };
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
  const subject = new DeliveryScheduler(
    { repo } as unknown as DeliveryStore,
    delivery as unknown as WebhookDelivery,
    { dispatchConcurrency } as EngineConfig,
    logger,
  );
  return { subject, claimCalls, released, loops, mostRunning: () => mostRunning };
}

/** Lets every pending promise and immediate callback run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('DeliveryScheduler', () => {
  it('delivers a webhook claimed again while its loop ends in a new loop, never two at once', async () => {
    const s = scheduler([['w1'], ['w1']]);
    s.subject.poke();
    await waitFor('the first loop', () => s.loops.length === 1);
    // intake queued rows after the loop's success let the lease go: the claim gets w1 back while its loop ends
    s.subject.poke();
    await waitFor('the second claim', () => s.claimCalls.length === 2);
    await settle();
    expect(s.loops).toHaveLength(1);
    s.loops[0].end(true);
    await waitFor('the second loop', () => s.loops.length === 2);
    expect(s.loops.map((l) => l.webhookId)).toEqual(['w1', 'w1']);
    expect(s.mostRunning()).toBe(1);
    expect(s.released).toEqual([]);
  });

  it.each([
    { case: 'a queue emptied and let go, slots to spare: no claim', concurrency: 10, released: true, claims: 1, releases: [] },
    { case: 'a queue emptied, every slot was taken: claims again', concurrency: 1, released: true, claims: 2, releases: [] },
    { case: 'a loop that stopped with rows left: lets the lease go, no claim', concurrency: 10, released: false, claims: 1, releases: ['w1'] },
    { case: 'a loop that stopped, every slot was taken: lets the lease go, claims again', concurrency: 1, released: false, claims: 2, releases: ['w1'] },
  ])('when a loop ends, $case', async ({ concurrency, released, claims, releases }) => {
    const s = scheduler([['w1']], concurrency);
    s.subject.poke();
    await waitFor('the loop', () => s.loops.length === 1);
    s.loops[0].end(released);
    await settle();
    await settle();
    expect(s.claimCalls).toHaveLength(claims);
    expect(s.released).toEqual(releases);
  });

  it('hands back at once what a claim got while the dispatcher was shutting down', async () => {
    let answer: (ids: string[]) => void = () => undefined;
    const s = scheduler([new Promise<string[]>((resolve) => (answer = resolve))]);
    s.subject.poke();
    await waitFor('the claim', () => s.claimCalls.length === 1);
    const shutdown = s.subject.beforeApplicationShutdown();
    answer(['w2']);
    await shutdown;
    expect(s.loops).toEqual([]);
    expect(s.released).toEqual(['w2']);
  });

  describe('shutting down', () => {
    afterEach(() => jest.restoreAllMocks());

    it('lets the request in flight finish: the loop is told to end after it, not abandoned', async () => {
      const s = scheduler([['w1']]);
      s.subject.poke();
      await waitFor('the loop', () => s.loops.length === 1);
      const shutdown = s.subject.beforeApplicationShutdown();
      await settle();
      const [loop] = s.loops;
      expect([loop.finishing.aborted, loop.signal.aborted]).toEqual([true, false]);
      loop.end(true);
      await shutdown;
      expect(loop.signal.aborted).toBe(false);
      expect(s.claimCalls).toHaveLength(1);
    });

    it('abandons a request still in flight after the grace period', async () => {
      const s = scheduler([['w1']]);
      s.subject.poke();
      await waitFor('the loop', () => s.loops.length === 1);
      const [loop] = s.loops;
      loop.signal.addEventListener('abort', () => loop.end(false));
      const start = Date.now();
      const shutdown = s.subject.beforeApplicationShutdown();
      await settle();
      expect(loop.signal.aborted).toBe(false);
      jest.spyOn(Date, 'now').mockReturnValue(start + 6000);
      await shutdown;
      expect(loop.signal.aborted).toBe(true);
      expect(s.released).toEqual(['w1']);
    });
  });

  describe('renewing leases', () => {
    afterEach(() => jest.restoreAllMocks());

    async function running(renew: (ids: string[]) => Promise<string[]>) {
      const s = scheduler([['w1']], 10, renew);
      s.subject.poke();
      await waitFor('the loop', () => s.loops.length === 1);
      return { s, signal: s.loops[0].signal };
    }

    it('keeps a loop whose lease was renewed, even long after it was claimed', async () => {
      const { s, signal } = await running(async (ids) => ids);
      const start = Date.now();
      for (const later of [3000, 6000, 9000]) {
        jest.spyOn(Date, 'now').mockReturnValue(start + later);
        await s.subject.renewLeases();
      }
      expect(signal.aborted).toBe(false);
    });

    it('abandons a loop whose lease another instance took over', async () => {
      const { s, signal } = await running(async () => []);
      await s.subject.renewLeases();
      expect(signal.aborted).toBe(true);
    });

    it('abandons a loop whose lease may run out while the database cannot be reached', async () => {
      const { s, signal } = await running(async () => {
        throw new Error('database unreachable');
      });
      await expect(s.subject.renewLeases()).rejects.toThrow('database unreachable');
      expect(signal.aborted).toBe(false);
      const claimedAt = Date.now();
      jest.spyOn(Date, 'now').mockReturnValue(claimedAt + 4500);
      await expect(s.subject.renewLeases()).rejects.toThrow('database unreachable');
      expect(signal.aborted).toBe(true);
    });

    it('abandons a loop whose lease may run out while its renewals hang (no answer, no error)', async () => {
      const { s, signal } = await running(() => new Promise<string[]>(() => undefined));
      void s.subject.renewLeases();
      await settle();
      expect(signal.aborted).toBe(false);
      const claimedAt = Date.now();
      jest.spyOn(Date, 'now').mockReturnValue(claimedAt + 4500);
      void s.subject.renewLeases();
      await settle();
      expect(signal.aborted).toBe(true);
    });
  });

  it('excludes only the webhooks cooling down from a claim, not those it is delivering', async () => {
    const s = scheduler([['w1']]);
    s.subject.poke();
    await waitFor('the loop', () => s.loops.length === 1);
    s.subject.poke();
    await waitFor('the second claim', () => s.claimCalls.length === 2);
    expect(s.claimCalls[1]).toEqual([]);
  });
});
