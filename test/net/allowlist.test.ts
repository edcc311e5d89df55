import { describe, expect, it } from 'vitest';
import { Allowlist, parseCidr } from '../../src/net/allowlist.js';

describe('Allowlist', () => {
  const list = new Allowlist(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']);

  it.each([
    ['10.1.2.3', true], ['10.255.255.255', true], ['11.0.0.1', false],
    ['192.0.2.7', true], ['192.0.2.8', false],
    ['::ffff:10.9.9.9', true], ['::ffff:192.0.2.8', false],
    ['2001:db8:1::5', true], ['2001:db9::1', false], ['::1', true], ['::2', false],
    ['fe80::1%eth0', false], ['not-an-ip', false], ['', false],
  ] as const)('%s -> %s', (addr, want) => {
    expect(list.allows(addr)).toBe(want);
  });

  it('allows everyone when empty', () => {
    expect(new Allowlist([]).allows('203.0.113.9')).toBe(true);
  });

  it('handles /0 and host routes', () => {
    expect(new Allowlist(['0.0.0.0/0']).allows('203.0.113.9')).toBe(true);
    expect(new Allowlist(['0.0.0.0/0']).allows('2001:db8::1')).toBe(false);
    expect(new Allowlist(['::/0']).allows('2001:db8::1')).toBe(true);
    expect(new Allowlist(['127.0.0.1/32']).allows('127.0.0.2')).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0/8', 'example.com', '2001:db8::/129', '10.0.0.0/x', ''])('rejects %j with a message naming it', (bad) => {
    const r = parseCidr(bad);
    expect(typeof r).toBe('string');
    expect(r as string).toContain(`"${bad}"`);
  });
});
