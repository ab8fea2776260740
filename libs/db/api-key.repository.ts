import { DataSource } from 'typeorm';
import { Sql } from './sql';

export interface ApiKeyRecord {
  id: string;
  keyHash: string;
  docIds: string[];
  createdAt: number;
}

/** Document-scoped API keys, stored as SHA-256 hashes (the key itself is shown once, at creation). */
export class ApiKeyRepository {
  private readonly sql: Sql;

  constructor(db: DataSource) {
    this.sql = new Sql(db);
  }

  async insert(id: string, keyHash: string, docIds: string[]): Promise<void> {
    await this.sql.rows('INSERT INTO api_keys (id, key_hash, doc_ids) VALUES ($1, $2, $3)', [id, keyHash, docIds]);
  }

  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const rows = await this.sql.rows<ApiKeyRow>('SELECT * FROM api_keys WHERE key_hash = $1', [keyHash]);
    return rows.length > 0 ? toRecord(rows[0]) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.sql.rows<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id')).map(toRecord);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.sql.rows('DELETE FROM api_keys WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}

interface ApiKeyRow {
  id: string;
  key_hash: string;
  doc_ids: string[];
  created_at: Date;
}

const toRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  keyHash: r.key_hash,
  docIds: r.doc_ids,
  createdAt: r.created_at.getTime(),
});
