import { isMediaType, servedContentType } from './content-type.js';

describe('isMediaType', () => {
  it.each([
    'application/pdf',
    'text/plain; charset=utf-8',
    'text/plain;charset="utf-8"',
    'text/plain ; charset="a \\"b\\""',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'multipart/related; type="application/xop+xml"; boundary=abc',
  ])('accepts %s', (value) => {
    expect(isMediaType(value)).toBe(true);
  });

  it.each([
    ['a CRLF', 'text/plain\r\nX-Evil: 1'],
    ['a trailing CRLF', 'text/plain\r\n'],
    ['a LF inside a quoted value', 'text/plain; a="x\ny"'],
    ['a trailing word', 'text/plain x'],
    ['no subtype', 'text/'],
    ['no type', '/plain'],
    ['two types', 'text/plain, text/html'],
    ['a parameter without a value', 'text/plain; charset'],
    ['an unterminated quoted value', 'text/plain; charset="utf-8'],
    ['a non-ASCII letter', 'text/pl\u00e9in'],
    ['a NUL', 'text/plain\u0000'],
    ['leading space', ' text/plain'],
    ['an empty string', ''],
    ['more than 255 characters', `application/${'x'.repeat(250)}`],
  ])('refuses %s', (_label, value) => {
    expect(isMediaType(value)).toBe(false);
  });

  it('answers quickly on a long near-miss', () => {
    const started = Date.now();
    expect(isMediaType(`a/b${'; a=b'.repeat(40)} `)).toBe(false);
    expect(isMediaType(`a/b; a="${'\\"'.repeat(100)}`)).toBe(false);
    expect(Date.now() - started).toBeLessThan(100);
  });
});

describe('servedContentType', () => {
  it('keeps a valid type and replaces an invalid one with application/octet-stream', () => {
    expect(servedContentType('application/pdf')).toBe('application/pdf');
    expect(servedContentType('text/plain\r\nX-Evil: 1')).toBe('application/octet-stream');
  });
});
