import { lookup as dnsLookup } from 'node:dns';
import { isIP, LookupFunction } from 'node:net';
import { Agent, Dispatcher, ProxyAgent, request } from 'undici';
import { AttemptResult } from './retry-schedule';
import { OutgoingRequest } from './request';
import { AllowedDomains, isHostNamedExplicitly, isPublicAddress, isUrlAllowed } from './url-policy';

/** The HTTP edge of delivery: one POST per attempt, every outcome turned into an AttemptResult. */

export interface SenderOptions {
  /** WEBHOOK_TIMEOUT_MS: for the whole exchange, response body included. */
  timeoutMs: number;
  allowed: AllowedDomains;
  /** PROXY_FOR_UNTRUSTED_URLS: every request goes through it, and it is then the one to police addresses. */
  proxyUrl: string | null;
  /** Connections kept per origin. */
  maxSockets?: number;
}

/** How much of an error response is read: enough for the status message, never a whole download. */
export const RESPONSE_BODY_MAX = 64 * 1024;

const NON_PUBLIC_CODE = 'ERR_WEBHOOK_NON_PUBLIC_ADDRESS';

export class HttpSender {
  /** Connects only to public addresses: the address checked is the one connected to, so DNS rebinding fails. */
  private readonly checked: Agent;
  /** For hosts ALLOWED_WEBHOOK_DOMAINS names explicitly. */
  private readonly unchecked: Agent;
  private readonly proxy: ProxyAgent | null;

  constructor(private readonly opts: SenderOptions) {
    const pool = opts.maxSockets === undefined ? {} : { connections: opts.maxSockets };
    this.checked = new Agent({ ...pool, connect: { lookup: publicOnlyLookup } });
    this.unchecked = new Agent(pool);
    this.proxy = opts.proxyUrl === null ? null : new ProxyAgent({ ...pool, uri: opts.proxyUrl });
  }

  /**
   * Never throws for network or HTTP problems. Rejects with an `AbortError` when `signal` aborts before the
   * response status arrived (the caller abandoned the attempt); a status already received is returned as is.
   */
  async send(req: OutgoingRequest, signal?: AbortSignal): Promise<AttemptResult> {
    if (signal?.aborted) throw abortError(signal);
    if (!isUrlAllowed(req.url, this.opts.allowed)) {
      return { kind: 'forbidden-url', message: `URL is not allowed by ALLOWED_WEBHOOK_DOMAINS: ${describeHost(req.url)}` };
    }
    const trusted = this.proxy !== null || isHostNamedExplicitly(req.url, this.opts.allowed);
    // An IP literal is connected to without any lookup, so the lookup's check cannot see it.
    const literal = new URL(req.url).hostname.replace(/^\[|\]$/g, '');
    if (!trusted && isIP(literal) !== 0 && !isPublicAddress(literal)) {
      return { kind: 'forbidden-url', message: `Refused to connect to non-public address ${literal}` };
    }
    const dispatcher: Dispatcher = this.proxy ?? (trusted ? this.unchecked : this.checked);

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.opts.timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await request(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        dispatcher,
        signal: controller.signal,
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        // Drained so the socket goes back to the pool; the receiver already said yes, so a failure here is moot.
        await res.body.dump().catch(() => undefined);
        return { kind: 'success', httpStatus: res.statusCode };
      }
      const retryAfter = res.headers['retry-after'];
      return {
        kind: 'http-error',
        httpStatus: res.statusCode,
        body: await readExcerpt(res.body, RESPONSE_BODY_MAX),
        retryAfter: (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null,
      };
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (timedOut) return { kind: 'network-error', message: `timed out after ${this.opts.timeoutMs} ms` };
      if ((err as NodeJS.ErrnoException).code === NON_PUBLIC_CODE) {
        return { kind: 'forbidden-url', message: (err as Error).message };
      }
      return { kind: 'network-error', message: describeError(err) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.checked.close(), this.unchecked.close(), this.proxy?.close()]);
  }
}

/** DNS lookup that keeps only public addresses, and fails when none is left. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const usable = addresses.filter((a) => isPublicAddress(a.address));
    if (usable.length === 0) {
      const list = addresses.map((a) => a.address).join(', ');
      const refusal: NodeJS.ErrnoException = new Error(`Refused to connect to ${hostname}: non-public address ${list}`);
      refusal.code = NON_PUBLIC_CODE;
      return callback(refusal, '');
    }
    if (options.all) return callback(null, usable);
    callback(null, usable[0].address, usable[0].family);
  });
};

/** The start of a body as text; a read error only cuts the excerpt short. Leaving early destroys the stream. */
async function readExcerpt(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) break;
    }
  } catch {
    // keep what was read
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** Connection errors tried on several addresses arrive as an AggregateError with an empty message. */
function describeError(err: unknown): string {
  if (err instanceof AggregateError) {
    return [...new Set(err.errors.map(describeError))].join('; ') || 'connection failed';
  }
  if (err instanceof Error) return err.message || (err as NodeJS.ErrnoException).code || err.name;
  return String(err);
}

function describeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}

function abortError(signal: AbortSignal): Error {
  const err = new Error('Webhook request aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}
