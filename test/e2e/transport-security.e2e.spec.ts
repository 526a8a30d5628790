import { startTestApp, type TestApp } from '../utils/test-app.js';

const HSTS = 'max-age=31536000; includeSubDomains';

describe('Strict-Transport-Security', () => {
  describe('with no trusted proxy (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp('sqlite', 'file');
    });
    afterAll(() => t.close());

    it('is not sent over plain HTTP', async () => {
      const response = await t.fetch('/fhir/metadata');
      expect(response.status).toBe(200);
      expect(response.headers.get('strict-transport-security')).toBeNull();
    });

    it('is not sent when an untrusted peer claims X-Forwarded-Proto: https', async () => {
      const response = await t.fetch('/fhir/metadata', { headers: { 'x-forwarded-proto': 'https' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('strict-transport-security')).toBeNull();
    });
  });

  describe('behind a proxy named in TRUST_PROXY', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp('sqlite', 'file', { TRUST_PROXY: '127.0.0.1/32' });
    });
    afterAll(() => t.close());

    it('is sent when the proxy says the request arrived over https', async () => {
      for (const path of ['/fhir/metadata', '/fhir/DocumentReference/unknown-id', '/no-such-route']) {
        const response = await t.fetch(path, { headers: { 'x-forwarded-proto': 'https' } });
        expect(response.headers.get('strict-transport-security')).toBe(HSTS);
      }
    });

    it('is not sent when the proxy forwarded plain HTTP', async () => {
      const forwarded = await t.fetch('/fhir/metadata', { headers: { 'x-forwarded-proto': 'http' } });
      expect(forwarded.headers.get('strict-transport-security')).toBeNull();
      const direct = await t.fetch('/fhir/metadata');
      expect(direct.headers.get('strict-transport-security')).toBeNull();
    });
  });
});
