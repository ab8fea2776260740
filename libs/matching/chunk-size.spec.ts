import { CHUNK_EVENTS, MAX_CHUNK_BUNDLES, nextChunkSize } from './chunk-size';

describe('nextChunkSize', () => {
  it.each([
    ['a chunk that fired nothing', 100, 0, MAX_CHUNK_BUNDLES],
    ['2 events a bundle (1,000 webhooks over 100 documents)', 250, 500, MAX_CHUNK_BUNDLES],
    ['20 events a bundle (10,000 webhooks)', 250, 5_000, 100],
    ['20 events a bundle, from a chunk of 100', 100, 2_000, 100],
    ['exactly CHUNK_EVENTS per MAX_CHUNK_BUNDLES', MAX_CHUNK_BUNDLES, CHUNK_EVENTS, MAX_CHUNK_BUNDLES],
    ['one bundle firing more than CHUNK_EVENTS', 1, 50_000, 1],
    ['a small chunk that fired a little', 3, 3, MAX_CHUNK_BUNDLES],
  ])('%s', (_name, bundles, events, expected) => {
    expect(nextChunkSize(bundles, events)).toBe(expected);
  });
});
