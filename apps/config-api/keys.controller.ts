import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ApiKeyRepository } from '../../libs/db/api-key.repository';
import { docIdProblem } from '../../libs/domain';
import { invalidPayload, isUuid, notFound } from '../../libs/webhook-api';
import { AdminOnly, AuthGuard, hashKey } from './auth.guard';

/** Admin routes for document-scoped keys; a key is shown once and stored hashed. */
@Controller('api/keys')
@AdminOnly()
@UseGuards(AuthGuard)
export class KeysController {
  private readonly keys: ApiKeyRepository;

  constructor(db: DataSource) {
    this.keys = new ApiKeyRepository(db);
  }

  @Post()
  @HttpCode(200)
  async create(@Body() body: unknown): Promise<{ id: string; key: string }> {
    const docIds = (body as { docIds?: unknown } | null)?.docIds;
    const isDocId = (d: unknown): boolean => typeof d === 'string' && d.length > 0 && docIdProblem(d) === undefined;
    if (!Array.isArray(docIds) || docIds.length === 0 || !docIds.every(isDocId)) {
      throw invalidPayload('docIds must be a non-empty array of document ids');
    }
    const id = randomUUID();
    const key = randomBytes(32).toString('base64url');
    await this.keys.insert(id, hashKey(key).toString('hex'), [...new Set(docIds as string[])]);
    return { id, key };
  }

  @Get()
  async list(): Promise<unknown> {
    const keys = await this.keys.list();
    return { keys: keys.map((k) => ({ id: k.id, docIds: k.docIds, createdAt: k.createdAt })) };
  }

  @Delete(':id')
  async remove(@Param('id') id: string): Promise<{ success: true }> {
    if (!isUuid(id) || !(await this.keys.delete(id))) throw notFound(`Key not found "${id}"`);
    return { success: true };
  }
}
