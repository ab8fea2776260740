import { createHmac } from 'node:crypto';

/** The HTTP request of one delivery attempt (SPEC sections 4 and 7). Pure. */
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
  /** Standard Webhooks secrets; several during a rotation, each yields a signature. */
  signingSecrets?: string[];
}): OutgoingRequest {
  const timestamp = String(Math.floor(args.timestampSec));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': args.userAgent,
    'webhook-id': args.batchId,
    'webhook-timestamp': timestamp,
  };
  if (args.authorization !== '') headers.authorization = args.authorization;
  const secrets = (args.signingSecrets ?? []).filter((secret) => secret !== '');
  if (secrets.length > 0) {
    headers['webhook-signature'] = secrets
      .map((secret) => `v1,${sign(secret, args.batchId, timestamp, args.body)}`)
      .join(' ');
  }
  return { url: args.url, headers, body: args.body };
}

/** Standard Webhooks v1: base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`. */
export function sign(secret: string, id: string, timestamp: string, body: string): string {
  return createHmac('sha256', signingKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** A `whsec_` secret carries its key in base64; any other secret is used as its UTF-8 bytes. */
function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}
