import { Injectable, PipeTransform } from '@nestjs/common';
import { docIdProblem } from '../../libs/domain';
import { badRequest } from '../../libs/webhook-api';

/** No document has an id the database cannot store (the matcher dead-letters its bundles): refused before any query. */
@Injectable()
export class DocIdPipe implements PipeTransform<string, string> {
  transform(docId: string): string {
    const problem = docIdProblem(docId);
    if (problem) throw badRequest(`Invalid docId: ${problem}`);
    return docId;
  }
}
