import { StoredDoc } from '../../libs/db/doc-state.repository';
import { DocSchema } from '../../libs/domain';

/** Memory the remembered schemas may take, about: past it the least recently used documents are read again. */
const MAX_BYTES = 32 * 1024 * 1024;

/** About what a schema takes in memory: its texts, and a fixed cost per object. */
const sizeOf = (schema: DocSchema): number =>
  schema.tables.reduce(
    (sum, t) => sum + 100 + t.id.length + t.columns.reduce((s, c) => s + 150 + c.id.length + c.type.length + c.formula.length, 0),
    100,
  );

/**
 * Each document's state (actionNum, schema) as this matcher last saved or read it, so a batch need not read it
 * again before it reads the rows. Never trusted alone: the read of the rows checks every document's actionNum
 * against the database in the same statement, and a mismatch (another instance moved the document) fails the batch,
 * which forgets them all and reads again.
 */
export class KnownDocs {
  private readonly docs = new Map<string, { doc: StoredDoc; bytes: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes = MAX_BYTES) {}

  get(docId: string): StoredDoc | undefined {
    const known = this.docs.get(docId);
    if (!known) return undefined;
    // Map keeps insertion order: a document used again moves to the end, the least recently used stays first
    this.docs.delete(docId);
    this.docs.set(docId, known);
    return known.doc;
  }

  remember(docs: StoredDoc[]): void {
    for (const doc of docs) {
      const before = this.docs.get(doc.docId);
      // a schema is never changed in place: the same object is the same size
      const bytes = before?.doc.schema === doc.schema ? before.bytes : sizeOf(doc.schema);
      this.forget(doc.docId);
      this.docs.set(doc.docId, { doc, bytes });
      this.bytes += bytes;
    }
    for (const docId of this.docs.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.forget(docId);
    }
  }

  forgetAll(): void {
    this.docs.clear();
    this.bytes = 0;
  }

  private forget(docId: string): void {
    const known = this.docs.get(docId);
    if (!known) return;
    this.docs.delete(docId);
    this.bytes -= known.bytes;
  }
}
