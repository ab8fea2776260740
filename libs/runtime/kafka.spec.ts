import { PartitionerArgs, Partitioners } from 'kafkajs';
import { Outgoing, rememberKeyPartitions, slicesOf } from './kafka';

const metadata = (count: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));

describe('rememberKeyPartitions', () => {
  it('answers as the default partitioner, for any partition count', () => {
    const remembered = rememberKeyPartitions();
    const reference = Partitioners.DefaultPartitioner();
    for (const count of [8, 3, 8]) {
      for (let i = 0; i < 200; i++) {
        const args = { topic: 'events', partitionMetadata: metadata(count), message: { key: `webhook-${i % 50}`, value: 'x' } };
        expect(remembered(args)).toBe(reference(args));
      }
    }
  });

  it('keeps an explicit partition', () => {
    const args = { topic: 'events', partitionMetadata: metadata(8), message: { key: 'webhook-1', value: 'x', partition: 5 } };
    expect(rememberKeyPartitions()(args)).toBe(5);
  });
});

describe('slicesOf', () => {
  const item = (bytes: number): Outgoing => ({ topic: 't', message: { value: 'x'.repeat(bytes) }, bytes });
  const sizes = (slices: Iterable<Outgoing[]>): number[][] => [...slices].map((s) => s.map((i) => i.bytes));


  it.each([
    ['nothing', [], []],
    ['all in one slice', [10, 20, 30], [[10, 20, 30]]],
    ['a new slice when the limit would be passed', [60, 30, 20, 90], [[60, 30], [20], [90]]],
    ['a message over the limit goes alone', [10, 150, 10], [[10], [150], [10]]],
    ['exactly the limit fits', [50, 50, 1], [[50, 50], [1]]],
  ])('%s', (_name, input, expected) => {
    expect(sizes(slicesOf(input.map(item), 100))).toEqual(expected);
  });

  it('takes the messages only as the slices are asked for', () => {
    let taken = 0;
    function* items(): Generator<Outgoing> {
      for (let i = 0; i < 10; i++) {
        taken++;
        yield item(60);
      }
    }
    const slices = slicesOf(items(), 100);
    slices.next();
    expect(taken).toBe(2);
  });
});
