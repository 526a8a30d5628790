import { safeNext } from './viewer-request.js';

describe('safeNext', () => {
  it.each(['/app', '/app/documents?nhs=9434765919', '/app/documents/abc/history'])(
    'keeps the viewer page %s',
    (next) => {
      expect(safeNext(next)).toBe(next);
    },
  );

  it.each([
    'https://evil.example/app',
    '//evil.example/app',
    '/app//evil.example',
    '/app/../fhir/Bundle',
    '/app/%2e%2e/fhir',
    '/app\\evil',
    '/fhir/metadata',
    '/application',
    undefined,
    ['/app'],
  ])('sends %j to /app instead', (next) => {
    expect(safeNext(next)).toBe('/app');
  });
});
