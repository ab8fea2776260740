import { buildRequest } from './request';

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
});
