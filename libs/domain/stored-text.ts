/**
 * What Postgres can store. Its text cannot hold NUL, and it refuses JSON holding NUL or half of a surrogate pair once
 * it decodes it; its indexes hold keys of at most about 2,700 bytes, and a document id is part of several keys.
 */
const UNSTORABLE = /[\u0000\p{Cs}]/u;
const UNSTORABLE_EVERY = new RegExp(UNSTORABLE.source, 'gu');

export const MAX_DOC_ID_BYTES = 512;
/** `<docId>:<actionNum>:<webhookId>`, with room for both numbers. */
export const MAX_EVENT_ID_BYTES = MAX_DOC_ID_BYTES + 64;

/**
 * JSON text can carry NUL or a lone surrogate only as a \u escape (or, in a JS string, as a raw surrogate): text
 * without one is storable as it is, and only text with one is walked string by string.
 */
const MAY_HOLD_UNSTORABLE = /\\u0000|\\u[dD][89a-fA-F]|[\uD800-\uDFFF]/;

/** Whether a string holds neither NUL nor an unpaired surrogate. */
const isStorableText = (text: string): boolean => !UNSTORABLE.test(text);

/** The string with each NUL and unpaired surrogate replaced by U+FFFD, as a UTF-8 decoder does with bad bytes. */
export const toStorableText = (text: string): string => text.replace(UNSTORABLE_EVERY, '\uFFFD');

/** Why a document id cannot be stored, or undefined when it can. */
export function docIdProblem(docId: string): string | undefined {
  if (!isStorableText(docId)) return 'it contains a NUL character or an unpaired surrogate';
  const bytes = Buffer.byteLength(docId);
  if (bytes > MAX_DOC_ID_BYTES) return `it is ${bytes} bytes long, more than ${MAX_DOC_ID_BYTES}`;
  return undefined;
}

/** Whether every string and key of `value`, parsed from the JSON `text`, can be stored. */
const isStorableJson = (text: string, value: unknown): boolean => !MAY_HOLD_UNSTORABLE.test(text) || allStorable(value);

function allStorable(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (Array.isArray(value)) return value.every(allStorable);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).every(([key, v]) => isStorableText(key) && allStorable(v));
  }
  return true;
}

/**
 * Deepest nesting of arrays and objects accepted in a message. JSON.parse takes any depth, but serialising the
 * value again (to send it, or to compare it) recurses and overflows the stack near 10,000 levels; Grist's values
 * nest a few levels at most.
 */
const MAX_NESTING = 100;

/**
 * What one walk of a parsed value finds first: nesting deeper than `depth`, or a number JSON.parse read as ±Infinity
 * (past ±1.8e308), which JSON.stringify writes as null, so the value would change silently. Walked by index and key,
 * not through Object.values: it visits every value of every message, and those arrays were 4% of the matcher's
 * allocations. The numbers are checked here rather than by a regular expression over the text, which took half as
 * long as JSON.parse itself.
 */
function shapeProblem(value: unknown, depth: number): 'nesting' | 'overflow' | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'overflow';
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth === 0) return 'nesting';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = shapeProblem(value[i], depth - 1);
      if (problem) return problem;
    }
  } else {
    // a parsed value's own keys only: JSON.parse makes plain objects
    for (const key in value) {
      const problem = shapeProblem((value as Record<string, unknown>)[key], depth - 1);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * Why a value parsed from the JSON `text` of a message could not be stored or written again, or undefined. The shape
 * goes first: the walk over the strings recurses too.
 */
export function jsonProblem(text: string, value: unknown): string | undefined {
  const shape = shapeProblem(value, MAX_NESTING);
  if (shape === 'nesting') return `nests arrays or objects more than ${MAX_NESTING} deep`;
  if (shape === 'overflow') return 'holds a number too large for JSON (beyond ±1.8e308)';
  if (!isStorableJson(text, value)) return 'holds text the database cannot store (a NUL character or an unpaired surrogate)';
  return undefined;
}
