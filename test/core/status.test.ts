import { describe, expect, it } from 'vitest';
import { METHOD_LABELS, methodLabel } from '../../src/classify/methods.js';
import { classOf, parseStatusCode } from '../../src/classify/status.js';

describe('parseStatusCode (RFC 3261: exactly three digits, 100-699)', () => {
  it.each([
    ['100', 100], ['199', 199], ['200', 200], ['478', 478], ['699', 699],
    ['099', undefined], ['000', undefined], ['700', undefined], ['999', undefined],
    ['abc', undefined], ['2000', undefined], ['20', undefined], ['', undefined],
    [' 20', undefined], ['20 ', undefined], ['1e2', undefined], ['+20', undefined], ['4O4', undefined], ['９９９', undefined],
  ] as const)('%j -> %j', (text, want) => {
    expect(parseStatusCode(text)).toBe(want);
  });

  it('assigns the class from the first digit', () => {
    expect([100, 199, 200, 302, 478, 503, 699].map(classOf)).toEqual(['1xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx']);
  });
});

describe('method labels', () => {
  it.each([
    ['INVITE', 'INVITE'], ['REGISTER', 'REGISTER'], ['UPDATE', 'UPDATE'], ['PRACK', 'PRACK'],
    ['invite', 'OTHER'], ['FOO', 'OTHER'], ['sip:bob@example.com', 'OTHER'], ['', 'unknown'],
  ] as const)('%j -> %j', (method, want) => {
    expect(methodLabel(method)).toBe(want);
  });

  it('is a closed set of 16 values', () => {
    expect(METHOD_LABELS).toHaveLength(16);
  });
});
