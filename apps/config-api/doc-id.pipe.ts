import { Injectable, PipeTransform } from '@nestjs/common';
import { badRequest } from '../../libs/webhook-api';

/** Postgres text cannot hold NUL, so no document has such an id: refused before any query fails on it. */
@Injectable()
export class DocIdPipe implements PipeTransform<string, string> {
  transform(docId: string): string {
    if (docId.includes('\u0000')) throw badRequest('Invalid docId: it contains a NUL character');
    return docId;
  }
}
