import { logLevel, PartitionerArgs, Partitioners } from 'kafkajs';
import { kafkaLogLevel, Outgoing, PendingOffsets, rememberKeyPartitions, slicesOf } from './kafka';

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

describe('kafkaLogLevel', () => {
  it.each<[string, logLevel, string, string]>([
    ['a failed request the caller retries', logLevel.ERROR, 'Response Heartbeat(key: 12, version: 3)', 'warn'],
    ['a topic another app just created', logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', 'warn'],
    ['a member re-joining', logLevel.ERROR, 'The coordinator is not aware of this member, re-joining the group', 'warn'],
    ['any other error', logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded', 'error'],
    ['a warning', logLevel.WARN, 'The group is rebalancing, re-joining', 'warn'],
    ['an info line', logLevel.INFO, 'Response Metadata', 'info'],
  ])('%s', (_name, level, message, expected) => {
    expect(kafkaLogLevel(level, message)).toBe(expected);
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

describe('PendingOffsets', () => {
  type Step = ['resolved', number, string] | ['take'] | ['restore', Array<[number, string]>] | ['keepOnly', number[]];
  const run = (steps: Step[]): Array<[number, string]> => {
    const pending = new PendingOffsets();
    for (const step of steps) {
      if (step[0] === 'resolved') pending.resolved(step[1], step[2]);
      else if (step[0] === 'take') pending.take();
      else if (step[0] === 'restore') pending.restore(step[1].map(([partition, offset]) => ({ partition, offset })));
      else pending.keepOnly(step[1]);
    }
    return pending.take().map(({ partition, offset }) => [partition, offset]);
  };

  it.each<[string, Step[], Array<[number, string]>]>([
    ['nothing resolved: nothing to commit', [], []],
    ['the next offset to read, per partition, the latest winning', [['resolved', 0, '4'], ['resolved', 1, '9'], ['resolved', 0, '7']], [[0, '8'], [1, '10']]],
    ['offsets past 2^53 stay exact', [['resolved', 0, '9007199254740993']], [[0, '9007199254740994']]],
    ['taken once', [['resolved', 0, '1'], ['take']], []],
    ['a failed commit put back', [['resolved', 0, '1'], ['take'], ['restore', [[0, '2']]]], [[0, '2']]],
    ['put back, unless resolved further meanwhile', [['resolved', 0, '5'], ['restore', [[0, '2'], [1, '3']]]], [[0, '6'], [1, '3']]],
    ['partitions lost in a rebalance dropped', [['resolved', 0, '1'], ['resolved', 1, '1'], ['resolved', 2, '1'], ['keepOnly', [1]]], [[1, '2']]],
    ['a lost partition resolved after the rebalance is ignored', [['keepOnly', [1]], ['resolved', 0, '5'], ['resolved', 1, '5']], [[1, '6']]],
    ['a partition assigned again is taken again', [['keepOnly', [1]], ['keepOnly', [0, 1]], ['resolved', 0, '5']], [[0, '6']]],
  ])('%s', (_name, steps, expected) => {
    expect(run(steps)).toEqual(expected);
  });
});
