import { prometheusText } from './metrics.js';

describe('prometheusText', () => {
  it('writes HELP, TYPE and labelled samples with escaped label values', () => {
    const text = prometheusText([
      {
        name: 'registry_document_references',
        help: 'DocumentReferences by status',
        type: 'gauge',
        values: [
          { labels: { status: 'current' }, value: 3 },
          { labels: { status: 'a"b' }, value: 1 },
        ],
      },
    ]);
    expect(text).toBe(
      '# HELP registry_document_references DocumentReferences by status\n' +
        '# TYPE registry_document_references gauge\n' +
        'registry_document_references{status="current"} 3\n' +
        'registry_document_references{status="a\\"b"} 1\n',
    );
  });
});
