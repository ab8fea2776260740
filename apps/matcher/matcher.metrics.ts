import { Injectable } from '@nestjs/common';
import { Counter, MetricsRegistry } from '../../libs/observability';

@Injectable()
export class MatcherMetrics {
  readonly bundlesApplied: Counter;
  readonly duplicateBundles: Counter;
  readonly actionNumGaps: Counter;
  readonly deadLettered: Counter;
  readonly rowChanges: Counter;
  readonly payloadEvents: Counter;

  constructor(registry: MetricsRegistry) {
    this.bundlesApplied = registry.counter('matcher_bundles_applied_total', 'Action bundles applied to document state.');
    this.duplicateBundles = registry.counter('matcher_bundles_duplicate_total', 'Bundles skipped: actionNum already applied.');
    this.actionNumGaps = registry.counter('matcher_action_num_gaps_total', 'Bundles whose actionNum skipped numbers.');
    this.deadLettered = registry.counter('matcher_bundles_dead_lettered_total', 'Messages sent to the DLQ.');
    this.rowChanges = registry.counter('matcher_row_changes_total', 'Rows written or removed by applied bundles.');
    this.payloadEvents = registry.counter('matcher_payload_events_total', 'Payload events published.');
  }
}
