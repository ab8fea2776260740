import { StoredDoc } from '../../libs/db/doc-state.repository';
import { DocSchema } from '../../libs/domain';
import { KnownDocs } from './known-docs';

/** A document whose schema has one table of `columns` columns (each counted about 150 bytes and more). */
const doc = (docId: string, lastActionNum: number, columns = 1): StoredDoc => {
  const schema: DocSchema = {
    tables: [{ ref: 't1', id: 'T', columns: Array.from({ length: columns }, (_, i) => ({ ref: `c${i}`, id: `C${i}`, type: 'Text', isFormula: false, formula: '' })) }],
    nextRef: columns + 2,
  };
  return { docId, lastActionNum, schema };
};

const known = (k: KnownDocs, ids: string[]): string[] => ids.filter((id) => k.get(id) !== undefined);

describe('KnownDocs', () => {
  it('answers the latest state remembered of each document, and nothing once all are forgotten', () => {
    const k = new KnownDocs();
    k.remember([doc('a', 1), doc('b', 1)]);
    k.remember([doc('a', 2)]);
    expect([k.get('a')?.lastActionNum, k.get('b')?.lastActionNum, k.get('c')]).toEqual([2, 1, undefined]);
    k.forgetAll();
    expect(known(k, ['a', 'b'])).toEqual([]);
  });

  it.each([
    { case: 'the least recently remembered goes first', used: [], kept: ['b', 'c', 'd'] },
    { case: 'a document read since is kept', used: ['a'], kept: ['a', 'c', 'd'] },
  ])('keeps its schemas under its budget: $case', ({ used, kept }) => {
    // each document is about 1,700 bytes: three of them fit in 5,500, a fourth does not
    const k = new KnownDocs(5_500);
    k.remember([doc('a', 1, 10), doc('b', 1, 10), doc('c', 1, 10)]);
    for (const id of used) k.get(id);
    k.remember([doc('d', 1, 10)]);
    expect(known(k, ['a', 'b', 'c', 'd'])).toEqual(kept);
  });

  it('does not keep a document larger than its whole budget', () => {
    const k = new KnownDocs(1_000);
    k.remember([doc('huge', 1, 100)]);
    expect(k.get('huge')).toBeUndefined();
  });
});
