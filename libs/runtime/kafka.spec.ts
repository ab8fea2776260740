import { slicesUnder } from './kafka';

const item = (bytes: number) => ({ message: { value: 'x'.repeat(bytes) } });
const sizes = (slices: Array<Array<{ message: { value: string } }>>) => slices.map((s) => s.map((i) => i.message.value.length));

describe('slicesUnder', () => {
  it.each([
    ['nothing', [], []],
    ['all in one slice', [10, 20, 30], [[10, 20, 30]]],
    ['a new slice when the limit would be passed', [60, 30, 20, 90], [[60, 30], [20], [90]]],
    ['a message over the limit goes alone', [10, 150, 10], [[10], [150], [10]]],
    ['exactly the limit fits', [50, 50, 1], [[50, 50], [1]]],
  ])('%s', (_name, input, expected) => {
    expect(sizes(slicesUnder(input.map(item), 100))).toEqual(expected);
  });
});
