#!/usr/bin/env node
/**
 * A webhook firing within a minute: starts a receiver on 127.0.0.1:8099 that prints what it gets, creates a webhook
 * for table Orders of document "demo" over the API, then publishes an AddTable bundle and a few AddRecord /
 * UpdateRecord bundles to doc-actions. Needs the engine running (`npm start`).
 * Env: API_URL (http://127.0.0.1:8080), ADMIN_API_KEY (dev-admin-key), KAFKA_BROKERS, ACTIONS_TOPIC.
 */
'use strict';
const http = require('node:http');
const { Kafka, Partitioners, logLevel } = require('kafkajs');
const { readEnv } = require('./stack');

const API = process.env.API_URL || 'http://127.0.0.1:8080';
const KEY = process.env.ADMIN_API_KEY || 'dev-admin-key';
const BROKERS = (process.env.KAFKA_BROKERS || readEnv().KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const TOPIC = process.env.ACTIONS_TOPIC || 'doc-actions';
const DOC = `demo-${Date.now()}`;

async function api(method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function main() {
  let received = 0;
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received += JSON.parse(body).length;
      console.log(`receiver got POST ${req.url} webhook-id=${req.headers['webhook-id']}\n  ${body}`);
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(8099, '127.0.0.1', r));

  const producer = new Kafka({ brokers: BROKERS, logLevel: logLevel.WARN }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const publish = (actionNum, actions) =>
    producer.send({ topic: TOPIC, messages: [{ key: DOC, value: JSON.stringify({ docId: DOC, actionNum, userActions: [], actions }) }] });

  console.log(`document ${DOC}: declaring table Orders, then creating a webhook`);
  await publish(1, [['AddTable', 'Orders', [{ id: 'Item', type: 'Text' }, { id: 'Qty', type: 'Int' }]]]);
  // the API knows tables once the matcher has applied the bundle that declares them
  for (let i = 0; ; i++) {
    try {
      await api('POST', `/api/docs/${DOC}/webhooks`, {
        webhooks: [{ fields: { url: 'http://localhost:8099/hook', eventTypes: ['add', 'update'], tableId: 'Orders', name: 'demo' } }],
      });
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  await publish(2, [['AddRecord', 'Orders', 1, { Item: 'Tea', Qty: 2 }]]);
  await publish(3, [['BulkAddRecord', 'Orders', [2, 3], { Item: ['Coffee', 'Milk'], Qty: [1, 6] }]]);
  await publish(4, [['UpdateRecord', 'Orders', 1, { Qty: 3 }]]);
  console.log('published 4 bundles; waiting for 4 rows at the receiver');
  const deadline = Date.now() + 30000;
  while (received < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const { webhooks } = await api('GET', `/api/docs/${DOC}/webhooks`);
  console.log('webhook status:', JSON.stringify(webhooks[0].usage));
  await producer.disconnect();
  receiver.close();
  process.exit(received >= 4 ? 0 : 1);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
