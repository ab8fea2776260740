import {
  AllowedDomains,
  invalidAllowedDomainEntries,
  isHostNamedExplicitly,
  isPublicAddress,
  isUrlAllowed,
  parseAllowedDomains,
} from './url-policy';

describe('parseAllowedDomains', () => {
  it.each<[string | undefined, AllowedDomains]>([
    [undefined, []],
    ['', []],
    ['   ', []],
    ['*', '*'],
    [' * ', '*'],
    ['example.com', ['example.com']],
    [' Example.com , ,api.test:8443,', ['example.com', 'api.test:8443']],
    ['*,example.com', ['example.com']],
    ['bücher.example', ['xn--bcher-kva.example']],
    [' BÜCHER.example:8443 ', ['xn--bcher-kva.example:8443']],
    ['xn--bcher-kva.example', ['xn--bcher-kva.example']],
    ['[::1]:8080', ['[::1]:8080']],
    ['[0:0::1]', ['[::1]']],
    ['my_hooks:8080', ['my_hooks:8080']],
    ['例え.テスト', ['xn--r8jz45g.xn--zckzah']],
    ['xn--zz.example,a b.com,example.com', ['example.com']], // no domains: dropped, never an empty entry
    ['xn--zz.example', []],
    ['example.com/path', []], // never cut to example.com
    ['*.example.com', []],
  ])('%p', (value, expected) => {
    expect(parseAllowedDomains(value)).toEqual(expected);
  });
});

describe('invalidAllowedDomainEntries', () => {
  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ['', []],
    [' , ,', []],
    ['*', []],
    [' * ', []],
    ['example.com, api.test:8443, localhost', []],
    ['bücher.example, BÜCHER.example:8443, ＥＸＡＭＰＬＥ.com', []],
    ['[::1]:8080, 127.0.0.1:9000, my_hooks', []],
    ['*.example.com', ['*.example.com']],
    ['＊.example.com', ['＊.example.com']], // fullwidth asterisk, mapped to `*` by IDNA
    ['*,example.com', ['*']], // `*` allows everything only as the whole value
    ['https://hooks.example.com', ['https://hooks.example.com']],
    ['example.com/path', ['example.com/path']],
    ['example.com:99999, example.com:0, example.com:', ['example.com:99999', 'example.com:0', 'example.com:']],
    ['user@example.com, a%2eb.com, a b.com', ['user@example.com', 'a%2eb.com', 'a b.com']],
    ['example..com, .example.com, example.com.', ['example..com', '.example.com', 'example.com.']],
    ['[::1, [x]:80, xn--zz.example', ['[::1', '[x]:80', 'xn--zz.example']],
    [' example.com , *.example.com ', ['*.example.com']],
  ])('%p -> %p', (value, expected) => {
    expect(invalidAllowedDomainEntries(value)).toEqual(expected);
  });
});

describe('isUrlAllowed', () => {
  const list = ['example.com', 'localhost', 'api.test:8443'];
  it.each<[string, AllowedDomains, boolean]>([
    ['https://example.com/hook', list, true],
    ['https://sub.example.com/hook', list, true],
    ['https://a.b.example.com/hook', list, true],
    ['https://EXAMPLE.com/hook', list, true],
    ['https://example.com:443/hook', list, true], // default port is not part of host
    ['https://example.com:8443/hook', list, false], // non-default port must be named
    ['https://badexample.com/hook', list, false],
    ['https://example.com.evil.org/hook', list, false],
    ['http://example.com/hook', list, false], // http only for localhost
    ['http://localhost/hook', list, true],
    ['http://localhost:8080/hook', list, false],
    ['http://localhost:8080/hook', ['localhost:8080'], true],
    ['https://api.test:8443/x', list, true],
    ['https://api.test/x', list, false],
    ['https://v1.api.test:8443/x', list, true],
    ['ftp://example.com/x', list, false],
    ['not a url', list, false],
    ['https://example.com/hook', [], false],
    ['https://anything.org/x', '*', true],
    ['http://anything.org/x', '*', true],
    ['http://127.0.0.1:9/x', '*', true],
    ['ftp://anything.org/x', '*', false],
    ['file:///etc/passwd', '*', false],
    ['nope', '*', false],
    ['https://anything.org/x', ['*', 'example.com'], false],
  ])('%s with %p -> %p', (url, allowed, expected) => {
    expect(isUrlAllowed(url, allowed)).toBe(expected);
  });

  it.each([
    ['https://bücher.example/x', 'bücher.example', true],
    ['https://xn--bcher-kva.example/x', 'bücher.example', true],
    ['https://shop.bücher.example/x', 'Bücher.Example', true],
    ['https://bücher.example/x', 'xn--bcher-kva.example', true],
    ['https://bücher.example:8443/x', 'bücher.example:8443', true],
    ['https://bücher.example:8443/x', 'bücher.example', false],
    ['https://bucher.example/x', 'bücher.example', false],
    ['https://example.com./x', 'xn--zz.example', false], // a rejected entry allows nothing, not every name ending in '.'
    ['https://example.com/x', 'xn--zz.example', false],
  ])('%s with ALLOWED_WEBHOOK_DOMAINS=%j -> %p', (url, value, expected) => {
    expect(isUrlAllowed(url, parseAllowedDomains(value))).toBe(expected);
  });
});

describe('isHostNamedExplicitly', () => {
  it.each<[string, AllowedDomains, boolean]>([
    ['http://localhost:8080/x', ['localhost:8080'], true],
    ['http://localhost:8080/x', ['localhost'], true],
    ['https://internal.corp/x', ['internal.corp'], true],
    ['https://a.internal.corp/x', ['internal.corp'], false],
    ['https://internal.corp/x', '*', false],
    ['https://internal.corp/x', [], false],
    ['garbage', ['garbage'], false],
  ])('%s with %p -> %p', (url, allowed, expected) => {
    expect(isHostNamedExplicitly(url, allowed)).toBe(expected);
  });
});

describe('isPublicAddress', () => {
  it.each<[string, boolean]>([
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['93.184.216.34', true],
    ['172.15.255.255', true],
    ['172.32.0.0', true],
    ['100.63.255.255', true],
    ['100.128.0.0', true],
    ['0.0.0.0', false],
    ['0.1.2.3', false],
    ['10.1.2.3', false],
    ['100.64.0.1', false],
    ['100.127.255.255', false],
    ['127.0.0.1', false],
    ['127.255.255.254', false],
    ['169.254.169.254', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.0.0.8', false],
    ['192.0.2.1', false],
    ['192.88.99.1', false],
    ['192.168.1.1', false],
    ['198.18.0.1', false],
    ['198.19.255.255', false],
    ['198.51.100.7', false],
    ['203.0.113.9', false],
    ['224.0.0.1', false],
    ['239.255.255.250', false],
    ['240.0.0.1', false],
    ['255.255.255.255', false],
    ['2606:4700:4700::1111', true],
    ['2001:4860:4860::8888', true],
    ['[2606:4700:4700::1111]', true],
    ['::', false],
    ['::1', false],
    ['[::1]', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:8.8.8.8', true],
    ['::ffff:808:808', true],
    ['::127.0.0.1', false],
    ['64:ff9b::8.8.8.8', true],
    ['64:ff9b::a00:1', false],
    ['64:ff9b:1::1', false],
    ['2002:0a00:0001::1', false],
    ['2002:0808:0808::1', true],
    ['100::1', false],
    ['2001::1', false],
    ['2001:0:4136:e378::1', false],
    ['2001:db8::1', false],
    ['3fff::1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['fe80::1', false],
    ['fe80::1%eth0', false],
    ['febf::1', false],
    ['fec0::1', false],
    ['ff02::1', false],
    ['5f00::1', false],
    ['not-an-ip', false],
    ['', false],
    ['1.2.3', false],
  ])('%s -> %p', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });
});
