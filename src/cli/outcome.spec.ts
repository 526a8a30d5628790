import { outcomeWarnings, refusalReason } from './outcome.js';

const outcome = (...issue: unknown[]) => JSON.stringify({ resourceType: 'OperationOutcome', issue });

describe('refusalReason', () => {
  it('gives the status and the error issues of an OperationOutcome, with their expressions, before any warning', () => {
    const body = outcome(
      { severity: 'warning', code: 'informational', diagnostics: 'just so you know' },
      {
        severity: 'error',
        code: 'invariant',
        diagnostics: 'bdl-9: a document has an identifier',
        expression: ['Bundle.identifier'],
      },
      { severity: 'fatal', code: 'structure', details: { text: 'broken' } },
    );
    expect(refusalReason(422, body)).toBe(
      '422 invariant: bdl-9: a document has an identifier (at Bundle.identifier); structure: broken',
    );
  });

  it('falls back to the start of whatever else the server sent', () => {
    expect(refusalReason(502, '<html>Bad gateway</html>')).toBe('502 <html>Bad gateway</html>');
    expect(refusalReason(500, 'x'.repeat(500))).toBe(`500 ${'x'.repeat(200)}...`);
    expect(refusalReason(504, '')).toBe('504 (no explanation)');
  });

  it('does not print what a hostile server puts in its diagnostics', () => {
    expect(refusalReason(400, outcome({ severity: 'error', code: 'invalid', diagnostics: 'a\u001b[31mb' }))).toBe(
      '400 invalid: a [31mb',
    );
  });
});

describe('outcomeWarnings', () => {
  it('lists only the warnings', () => {
    const body = outcome(
      { severity: 'information', code: 'informational', diagnostics: 'Stored' },
      { severity: 'warning', code: 'business-rule', diagnostics: 'no Bundle.timestamp' },
    );
    expect(outcomeWarnings(body)).toEqual(['business-rule: no Bundle.timestamp']);
    expect(outcomeWarnings('not json')).toEqual([]);
  });
});
