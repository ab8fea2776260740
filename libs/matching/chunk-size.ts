/** Most bundles matched, published and saved together: bounds the work between two heartbeats. */
export const MAX_CHUNK_BUNDLES = 250;

/**
 * Payload events a chunk aims at. A chunk's bundles, their rows and their events are held until it is saved: with
 * 10,000 webhooks (20 events a bundle) chunks of 250 bundles took the matcher's peak RSS to 276 MB, chunks of 100 to
 * 233 MB. Bundles that fire little need large chunks instead, or each chunk's round trips weigh on every bundle: at
 * 1,000 documents, chunks of 100 ran about a fifth slower than chunks of 250 (docs/BENCHMARKS.md).
 */
export const CHUNK_EVENTS = 2_000;

/** Bundles in the first chunk, before any has shown how many payload events its bundles fire. */
export const FIRST_CHUNK_BUNDLES = 100;

/** Bundles in the next chunk, from what the last one fired: about CHUNK_EVENTS payload events' worth. */
export function nextChunkSize(bundles: number, events: number): number {
  return Math.max(1, Math.min(MAX_CHUNK_BUNDLES, Math.floor((CHUNK_EVENTS * bundles) / Math.max(events, 1))));
}
