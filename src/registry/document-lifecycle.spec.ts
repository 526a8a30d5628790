import { FhirError } from '../common/fhir-error.js';
import {
  isPurged,
  MAX_PURGE_REASON_LENGTH,
  PURGE_EXTENSION,
  purgedDocumentReference,
  purgeReason,
  storedContentOf,
} from './document-lifecycle.js';
import type { StoredDocumentReference } from './document-reference.repository.js';

const BASE = 'https://registry.example.nhs.uk';
const at = new Date('2026-11-30T08:00:00.000Z');

const aDocumentReference = (overrides: Partial<StoredDocumentReference> = {}): StoredDocumentReference => ({
  resourceType: 'DocumentReference',
  id: 'dr-1',
  meta: { versionId: '2', lastUpdated: '2026-11-01T00:00:00Z' },
  status: 'current',
  description: 'Discharge summary',
  content: [{ attachment: { contentType: 'application/fhir+json', url: `${BASE}/fhir/Bundle/b-1` } }],
  ...overrides,
});

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof FhirError ? error.status : 'not a FhirError';
  }
  return 'no error';
};

describe('purgeReason', () => {
  it('keeps a reason trimmed', () => {
    expect(purgeReason('  Court order 2026/123  ')).toBe('Court order 2026/123');
  });

  it('refuses no reason, a blank one, an overlong one or one with line breaks (400)', () => {
    expect(usage(() => purgeReason(undefined))).toBe(400);
    expect(usage(() => purgeReason('   '))).toBe(400);
    expect(usage(() => purgeReason('x'.repeat(MAX_PURGE_REASON_LENGTH + 1)))).toBe(400);
    expect(usage(() => purgeReason('first line\nsecond line'))).toBe(400);
  });
});

describe('purgedDocumentReference', () => {
  it('is entered-in-error, with the reason in description (for people) and in the extension (for software)', () => {
    const purged = purgedDocumentReference(aDocumentReference(), 'Court order 2026/123', at);

    expect(purged.status).toBe('entered-in-error');
    expect(purged.description).toBe('Content removed by an administrative purge on 2026-11-30: Court order 2026/123');
    expect(purged.extension).toEqual([
      {
        url: PURGE_EXTENSION,
        extension: [
          { url: 'reason', valueString: 'Court order 2026/123' },
          { url: 'date', valueDateTime: '2026-11-30T08:00:00.000Z' },
        ],
      },
    ]);
    expect(isPurged(purged)).toBe(true);
    expect(isPurged(aDocumentReference())).toBe(false);
  });

  it('applies to a superseded record too, keeps other extensions and attachment URLs, and drops inline data', () => {
    const other = { url: 'https://example.org/ext', valueString: 'kept' };
    const current = aDocumentReference({
      status: 'superseded',
      extension: [other],
      content: [{ attachment: { contentType: 'text/plain', data: 'c2VjcmV0', url: `${BASE}/fhir/Binary/x` } }],
    });

    const purged = purgedDocumentReference(current, 'GDPR erasure', at);

    expect(purged.status).toBe('entered-in-error');
    expect(purged.extension).toEqual([other, expect.objectContaining({ url: PURGE_EXTENSION })]);
    expect(purged.content).toEqual([{ attachment: { contentType: 'text/plain', url: `${BASE}/fhir/Binary/x` } }]);
    expect(purged.meta).toEqual(current.meta);
  });
});

describe('storedContentOf', () => {
  it('names the indexed Bundle and the Bundles and Binaries of this server its attachments point at', () => {
    const resource = aDocumentReference({
      content: [
        { attachment: { url: `${BASE}/fhir/Bundle/b-1` } },
        { attachment: { url: `${BASE}/fhir/Binary/bin-1` } },
        { attachment: { url: 'Binary/bin-2' } },
        { attachment: { url: 'https://elsewhere.example.org/fhir/Binary/bin-3' } },
        { attachment: { url: `${BASE}/fhir/Binary/../../etc` } },
        { attachment: {} },
      ],
    });

    expect(storedContentOf(resource, 'b-1', BASE)).toEqual({ bundleIds: ['b-1'], binaryIds: ['bin-1', 'bin-2'] });
    expect(storedContentOf(aDocumentReference({ content: [] }), null, BASE)).toEqual({ bundleIds: [], binaryIds: [] });
  });
});
