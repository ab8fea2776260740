import { createHmac } from 'node:crypto';
import { buildRequest, sign } from './request';

const base = {
  url: 'https://example.com/hook',
  authorization: '',
  batchId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestampSec: 1614265330,
  userAgent: 'grist-webhook-engine/0.1.0',
  body: '{"test": 2432232314}',
};

describe('buildRequest', () => {
  it('sets the SPEC headers and no authorization when empty', () => {
    expect(buildRequest(base)).toEqual({
      url: base.url,
      body: base.body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'grist-webhook-engine/0.1.0',
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
      },
    });
  });

  it('passes authorization verbatim', () => {
    expect(buildRequest({ ...base, authorization: 'Bearer  x y' }).headers.authorization).toBe('Bearer  x y');
  });

  it('signs with the Standard Webhooks reference vector', () => {
    const req = buildRequest({ ...base, signingSecrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] });
    expect(req.headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs once per secret during a rotation; raw secrets are used as UTF-8 bytes', () => {
    const req = buildRequest({ ...base, signingSecrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'plain-secret'] });
    const raw = createHmac('sha256', 'plain-secret').update(`${base.batchId}.${base.timestampSec}.${base.body}`);
    expect(req.headers['webhook-signature']).toBe(
      `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,${raw.digest('base64')}`,
    );
  });

  it('omits the signature without usable secrets', () => {
    expect(buildRequest({ ...base, signingSecrets: [] }).headers).not.toHaveProperty('webhook-signature');
    expect(buildRequest({ ...base, signingSecrets: [''] }).headers).not.toHaveProperty('webhook-signature');
  });

  it('signs the exact body bytes: another serialisation gives another signature', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(sign(secret, base.batchId, '1614265330', '{"test":2432232314}')).not.toBe(
      sign(secret, base.batchId, '1614265330', base.body),
    );
  });
});
