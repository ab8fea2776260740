/** The HTTP request of one delivery attempt (SPEC section 4). Pure. */
export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export function buildRequest(args: {
  url: string;
  /** The webhook's `authorization` string, sent verbatim when not empty. */
  authorization: string;
  /** The same on every retry of a batch, so receivers can deduplicate. */
  batchId: string;
  timestampSec: number;
  userAgent: string;
  body: string;
}): OutgoingRequest {
  const timestamp = String(Math.floor(args.timestampSec));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': args.userAgent,
    'webhook-id': args.batchId,
    'webhook-timestamp': timestamp,
  };
  if (args.authorization !== '') headers.authorization = args.authorization;
  return { url: args.url, headers, body: args.body };
}
