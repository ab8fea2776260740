/**
 * Bad input for the chaos run: malformed messages on the actions topic (each one unique, so the dead-letter topic
 * can be checked message by message) and abusive requests to the config API.
 */

export interface RawMessage {
  key: string | null;
  value: string | null;
}

/** Identity of a message as the DLQ must hold it (same key and value). */
export const messageIdentity = (key: string | null, value: string | null): string => `${key ?? '<null>'}\u0000${value ?? '<null>'}`;

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/**
 * The n-th malformed message (SPEC section 2: not JSON, lacking docId/actionNum, an unknown or malformed action).
 * `realDocs` are used as keys now and then (the value never names them, so their state cannot change).
 */
export function malformedMessage(n: number, realDocs: string[]): RawMessage {
  const junk = `junk-${n}`;
  const key = n % 4 === 0 ? realDocs[n % realDocs.length] : junk;
  const bundle = (extra: string): string => `{"docId":"${junk}","actionNum":${1 + (n % 7)},"userActions":[],${extra}}`;
  const kinds: Array<() => string | null> = [
    () => `not json at all #${n}`,
    () => `{"docId": "${junk}", "actionNum": `,
    () => `${n}`,
    () => `[${n}, "bundle"]`,
    () => `{"docId": ${n}, "actionNum": 1, "actions": []}`,
    () => `{"docId": "${junk}", "actionNum": "1", "actions": []}`,
    () => `{"docId": "${junk}", "actionNum": -${n}, "actions": []}`,
    () => `{"docId": "${junk}", "actionNum": 1.5, "actions": []}`,
    () => `{"actionNum": ${n}, "actions": []}`,
    () => `{"docId": "${junk}", "actions": []}`,
    () => `{"docId": "", "actionNum": ${n}, "actions": []}`,
    () => bundle(`"actions": {"n": ${n}}`),
    () => bundle(`"actions": [["FooRecord", "T", 1, {}]]`),
    () => bundle(`"actions": [["AddRecord", "T", 1]]`),
    () => bundle(`"actions": [["AddRecord", "T", "one", {"A": 1}]]`),
    () => bundle(`"actions": [["BulkAddRecord", "T", [1, 2, 3], {"A": [1]}]]`),
    () => bundle(`"actions": ["AddRecord"]`),
    () => bundle(`"actions": [["AddRecord", "", 1, {}]]`),
    () => bundle(`"actions": [["UpdateRecord", "T", 1, [1, 2]]]`),
    () => bundle(`"actions": [["RenameColumn", "T", "A", 5]]`),
    () => bundle(`"actions": [["AddRecord", "T", 1, {"A": 1}], ["Nope"]]`),
    () => `{"docId": "${junk}", "actionNum": 1, "userActions": "Calculate", "actions": []}`,
    () => `{"docId": "${junk}", "actionNum": 1, "stored": [[0]]}`,
    () => `{"docId": "${junk}", "actionNum": 1e400, "actions": []}`,
    () => (n % 3 === 0 ? null : `\u0000\u0001 binary-ish ${n} \uFFFD`),
  ];
  let value = kinds[n % kinds.length]();
  // now and then, a huge one: a long non-JSON text, or a deep nesting in a row id's place
  if (n % 250 === 7) value = `huge #${n} ${'x'.repeat(300_000)}`;
  else if (n % 250 === 19) value = bundle(`"actions": [["AddRecord", "T", ${nested(5_000)}, {}]]`);
  else if (n % 250 === 31) value = bundle(`"actions": [["AddRecord", "T", 1, {"A": 1}], ["Explode", "${'y'.repeat(200_000)}"]]`);
  // a null value needs a unique key to be told apart
  return { key: value === null ? `null-${n}` : key, value };
}

/** Valid bundles that look odd: data for tables nobody declared (declared implicitly), huge cell values. */
export function oddValidMessage(n: number): RawMessage {
  const docId = `side-${n}`;
  const big = n % 5 === 0 ? 'z'.repeat(200_000) : `small ${n}`;
  const value = JSON.stringify({
    docId,
    actionNum: 1,
    userActions: [],
    actions: [
      ['AddRecord', `Undeclared_${n}`, 1, { Note: big, Flag: true }],
      ['BulkUpdateRecord', `Undeclared_${n}`, [1, 2], { Flag: [false, true] }],
    ],
  });
  return { key: docId, value };
}

// ---- API abuse -------------------------------------------------------------------------------------------------

export interface ApiStats {
  requests: number;
  byStatus: Map<number, number>;
  /** Any 5xx, with the request that got it. */
  serverErrors: string[];
  /** A malformed request answered 2xx. */
  acceptedMalformed: string[];
  /** A foreign or missing key not answered 403 / 401. */
  authViolations: string[];
  /** Requests that got no answer at all (the API was down: counted apart, not as 5xx). */
  unanswered: number;
}

export const newApiStats = (): ApiStats => ({
  requests: 0,
  byStatus: new Map(),
  serverErrors: [],
  acceptedMalformed: [],
  authViolations: [],
  unanswered: 0,
});

export interface ApiTarget {
  baseUrl(): string;
  adminKey: string;
}

/** One request: counts it, and any 5xx. Null when nothing answered. */
export async function apiCall(
  target: ApiTarget,
  stats: ApiStats,
  method: string,
  route: string,
  body?: string,
  opts: { key?: string | null; contentType?: string } = {},
): Promise<{ status: number; json: unknown } | null> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? target.adminKey : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  stats.requests++;
  let res: Response;
  try {
    res = await fetch(`${target.baseUrl()}${route}`, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  } catch {
    stats.unanswered++;
    return null;
  }
  const text = await res.text().catch(() => '');
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
  if (res.status >= 500) stats.serverErrors.push(`${method} ${route.slice(0, 120)} body=${(body ?? '').slice(0, 80)} -> ${res.status} ${text.slice(0, 200)}`);
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, json };
}

export interface AbuseContext {
  target: ApiTarget;
  stats: ApiStats;
  /** A document with a table and a sacrificial webhook nobody measures. */
  junkDoc: string;
  junkTable: string;
  junkHookId: string;
  /** A key for junkDoc only. */
  junkDocKey: string;
  /** Measured documents and one webhook id on each: a foreign key must get 403 there and change nothing. */
  foreign: Array<{ docId: string; hookId: string }>;
  allowedUrl: string;
}

/** One round of abusive requests; each must be answered 4xx (never 5xx, never 2xx). */
export async function abuseRound(ctx: AbuseContext, round: number): Promise<void> {
  const { target, stats, junkDoc, junkHookId } = ctx;
  const malformed = async (method: string, route: string, body?: string, contentType?: string): Promise<void> => {
    const res = await apiCall(target, stats, method, route, body, { contentType });
    if (res && res.status < 300) stats.acceptedMalformed.push(`${method} ${route} body=${(body ?? '').slice(0, 80)} -> ${res.status}`);
  };
  const hooks = `/api/docs/${junkDoc}/webhooks`;
  const fields = (f: string): string => `{"webhooks":[{"fields":${f}}]}`;
  const bodies = [
    '{"webhooks": [',
    'null',
    '[]',
    '"webhooks"',
    '{"webhooks":"x"}',
    '{"webhooks":[null]}',
    '{"webhooks":[{"fields":null}]}',
    fields('{"url":5,"eventTypes":"add","tableId":[]}'),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"NoSuchTable_${round}"}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":[],"tableId":"${ctx.junkTable}"}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["explode"],"tableId":"${ctx.junkTable}"}`),
    fields(`{"url":"http://evil.example.com/x","eventTypes":["add"],"tableId":"${ctx.junkTable}"}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"${ctx.junkTable}","watchedColIds":["Nope"]}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"${ctx.junkTable}","isReadyColumn":"Nope"}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"${ctx.junkTable}","watchedColIds":[{"a":1}]}`),
    fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"${ctx.junkTable}","payloadFormat":"xml"}`),
    `{"webhooks":[{"fields":{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"${ctx.junkTable}","name":"${'n'.repeat(50)}"}}, 7]}`,
    `{"webhooks":[${'{"fields":{}},'.repeat(2000)}{"fields":{}}]}`,
    `{"__proto__":{"webhooks":[]},"constructor":{"prototype":{"x":1}}}`,
  ];
  for (const body of bodies) await malformed('POST', hooks, body);
  await malformed('POST', hooks, `{"webhooks":[{"fields":{"url":"${ctx.allowedUrl}"}}]}`, 'text/plain');
  await malformed('POST', hooks, `{"webhooks":[${'{"fields":{"url":"u"}},'.repeat(40_000)}{}]}`);

  const patch = `${hooks}/${junkHookId}`;
  for (const body of [
    '{"enabled": tru',
    '{"enabled":"yes"}',
    '{"eventTypes":[]}',
    '{"eventTypes":"add"}',
    '{"url":null}',
    '{"url":"ftp://localhost/x"}',
    '{"tableId":5}',
    '{"tableId":"NoSuchTable"}',
    '{"watchedColIds":"A"}',
    '{"watchedColIds":["Nope"]}',
    '{"isReadyColumn":{}}',
    '{"authorization":7}',
    '[1,2,3]',
    'null',
    `{"memo":${JSON.stringify('m'.repeat(3_000_000))}}`,
  ]) {
    await malformed('PATCH', patch, body);
  }
  await malformed('PATCH', `${hooks}/not-a-uuid`, '{"name":"x"}');
  await malformed('PATCH', `${hooks}/00000000-0000-0000-0000-000000000000`, '{"name":"x"}');
  await malformed('DELETE', `${hooks}/queue/not-a-uuid`);
  await malformed('DELETE', `${hooks}/%E2%98%83`);
  await malformed('GET', `/api/docs/${'d'.repeat(5000)}/webhooks/${'w'.repeat(100)}`);
  await malformed('POST', `/api/docs/${junkDoc}/tables/${ctx.junkTable}/_unsubscribe`, '{"webhookId":42}');
  await malformed('POST', `/api/docs/${junkDoc}/tables/NoSuch/_subscribe`, `{"url":"${ctx.allowedUrl}","eventTypes":["add"]}`);
  for (const body of ['{"docIds":"x"}', '{"docIds":[1]}', '{"docIds":[]}', '{"docIds":[', '{}']) await malformed('POST', '/api/keys', body);
  await malformed('DELETE', '/api/keys/not-a-key');

  // keys: none, unknown, and a document key used on other documents
  const expect = async (want: number, method: string, route: string, key: string | null, body?: string): Promise<void> => {
    const res = await apiCall(target, stats, method, route, body, { key });
    if (res && res.status !== want) stats.authViolations.push(`${method} ${route} with ${key === null ? 'no key' : 'a wrong key'} -> ${res.status} (want ${want})`);
  };
  for (const { docId, hookId } of ctx.foreign) {
    await expect(403, 'GET', `/api/docs/${docId}/webhooks`, ctx.junkDocKey);
    await expect(403, 'PATCH', `/api/docs/${docId}/webhooks/${hookId}`, ctx.junkDocKey, '{"name":"hijacked"}');
    await expect(403, 'DELETE', `/api/docs/${docId}/webhooks/queue/${hookId}`, ctx.junkDocKey);
    await expect(403, 'POST', `/api/docs/${docId}/webhooks`, ctx.junkDocKey, fields(`{"url":"${ctx.allowedUrl}","eventTypes":["add"],"tableId":"X"}`));
    await expect(401, 'GET', `/api/docs/${docId}/webhooks`, null);
    await expect(401, 'DELETE', `/api/docs/${docId}/webhooks/queue`, `bogus-${round}`);
  }
  await expect(403, 'GET', '/api/keys', ctx.junkDocKey);
  await expect(403, 'POST', '/api/keys', ctx.junkDocKey, `{"docIds":["${ctx.foreign[0]?.docId ?? 'x'}"]}`);
}
