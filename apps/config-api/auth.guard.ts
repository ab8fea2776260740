import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Request } from 'express';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { ApiKeyRepository } from '../../libs/db/api-key.repository';
import { ApiError } from '../../libs/webhook-api';
import { CONFIG } from '../../libs/runtime/core.module';

/** Who is calling: the admin key acts on every document; a document key on its documents only. */
export type Caller = { kind: 'admin' } | { kind: 'doc-key'; keyId: string; docIds: string[] };

export const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest();

export const callerOf = (req: Request): Caller => (req as Request & { caller: Caller }).caller;

const ADMIN_ONLY = 'adminOnly';
/** Marks a controller whose routes need the admin key. Decided by the handler, not the path: routes match case-insensitively. */
export const AdminOnly = (): ClassDecorator => SetMetadata(ADMIN_ONLY, true);

/**
 * 401 without a key or with an unknown one; 403 `No owner access` for a key outside the document in the path,
 * whether or not the document exists. Routes of an `@AdminOnly()` controller need the admin key.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly keys: ApiKeyRepository;
  private readonly adminHash: Buffer | null;

  constructor(
    db: DataSource,
    @Inject(CONFIG) config: EngineConfig,
    private readonly reflector: Reflector,
  ) {
    this.keys = new ApiKeyRepository(db);
    this.adminHash = config.adminApiKey === null ? null : hashKey(config.adminApiKey);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { caller: Caller }>();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new ApiError(401, 'Unauthorized: send "Authorization: Bearer <key>"');
    const presented = hashKey(match[1]);
    const caller = await this.identify(presented);
    if (!caller) throw new ApiError(401, 'Unauthorized: unknown API key');
    req.caller = caller;
    const docId = req.params?.docId as string | undefined;
    if (caller.kind === 'doc-key') {
      if (this.reflector.get<boolean>(ADMIN_ONLY, context.getClass())) throw new ApiError(403, 'Admin access required');
      if (docId !== undefined && !caller.docIds.includes(docId)) throw new ApiError(403, 'No owner access');
    }
    return true;
  }

  private async identify(presented: Buffer): Promise<Caller | null> {
    // hashes have a fixed length, so comparing them in constant time never leaks the key's length either
    if (this.adminHash && timingSafeEqual(presented, this.adminHash)) return { kind: 'admin' };
    const found = await this.keys.findByHash(presented.toString('hex'));
    if (!found || !timingSafeEqual(Buffer.from(found.keyHash, 'hex'), presented)) return null;
    return { kind: 'doc-key', keyId: found.id, docIds: found.docIds };
  }
}
