import { FhirError } from '../common/fhir-error.js';
import { applyJsonPatch, jsonEqual, MAX_COPIED_NODES, pointerTokens } from './json-patch.js';

const aResource = () => ({
  resourceType: 'DocumentReference',
  status: 'current',
  custodian: { identifier: { system: 'ods', value: 'RTG' } },
  securityLabel: [{ coding: [{ system: 's', code: 'R' }] }, { coding: [{ system: 's', code: 'V' }] }],
});

function statusOf(run: () => unknown): number | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof FhirError) {
      return error.status;
    }
    throw error;
  }
}

describe('pointerTokens', () => {
  it('unescapes ~1 before ~0 (RFC 6901)', () => {
    expect(pointerTokens('/a~1b/c~0d/~01')).toEqual(['a/b', 'c~d', '~1']);
  });

  it.each(['/__proto__/x', '/constructor', '/a/prototype', '/securityLabel/00', '/a/01', 'status', '/a~2b', '/a~'])(
    'refuses %s',
    (pointer) => {
      expect(statusOf(() => pointerTokens(pointer))).toBe(400);
    },
  );
});

describe('jsonEqual', () => {
  it('ignores member order but not array order', () => {
    expect(jsonEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
  });

  it('tells types apart', () => {
    expect(jsonEqual(1, '1')).toBe(false);
    expect(jsonEqual({}, [])).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
    expect(jsonEqual({ a: undefined }, {})).toBe(false);
  });
});

describe('applyJsonPatch', () => {
  it('applies operations to a copy and leaves the original alone', () => {
    const original = aResource();
    const patched = applyJsonPatch(original, [
      { op: 'replace', path: '/status', value: 'entered-in-error' },
      { op: 'remove', path: '/securityLabel/1' },
    ]);
    expect(patched.status).toBe('entered-in-error');
    expect(patched.securityLabel).toHaveLength(1);
    expect(original).toEqual(aResource());
  });

  it('moves with the indexes counted after the remove (RFC 6902 4.4)', () => {
    const patched = applyJsonPatch(aResource(), [{ op: 'move', from: '/securityLabel/0', path: '/securityLabel/1' }]);
    expect(patched.securityLabel.map((l) => l.coding[0].code)).toEqual(['V', 'R']);
    expect(
      statusOf(() => applyJsonPatch(aResource(), [{ op: 'move', from: '/securityLabel/0', path: '/securityLabel/2' }])),
    ).toBe(400);
  });

  it('refuses to move a value into its own child', () => {
    expect(
      statusOf(() => applyJsonPatch(aResource(), [{ op: 'move', from: '/custodian', path: '/custodian/x' }])),
    ).toBe(400);
  });

  it('passes a test whose object members come in another order', () => {
    const test = { op: 'test', path: '/custodian', value: { identifier: { value: 'RTG', system: 'ods' } } };
    expect(() => applyJsonPatch(aResource(), [test])).not.toThrow();
  });

  it('answers a failed test with 422', () => {
    expect(statusOf(() => applyJsonPatch(aResource(), [{ op: 'test', path: '/status', value: 'superseded' }]))).toBe(
      422,
    );
  });

  it.each([
    ['an inherited member', { op: 'remove', path: '/hasOwnProperty' }],
    ['an index past the end', { op: 'remove', path: '/securityLabel/2' }],
    ['- outside add', { op: 'replace', path: '/securityLabel/-', value: 1 }],
    ['a non-canonical index', { op: 'remove', path: '/securityLabel/1e0' }],
    ['an add under a missing parent', { op: 'add', path: '/nothing/here', value: 1 }],
    ['an add under a string', { op: 'add', path: '/status/x', value: 1 }],
    ['an add to the root', { op: 'add', path: '', value: {} }],
    ['a remove of the root', { op: 'remove', path: '' }],
    ['a copy from an inherited member', { op: 'copy', from: '/toString', path: '/x' }],
    ['an add without a value', { op: 'add', path: '/x' }],
    ['a move without a from', { op: 'move', path: '/x' }],
    ['an unknown op', { op: 'merge', path: '/x', value: 1 }],
    ['a path that is not a string', { op: 'remove', path: 7 }],
    ['an operation that is not an object', 'remove /status'],
  ])('refuses %s with 400', (_label, operation) => {
    expect(statusOf(() => applyJsonPatch(aResource(), [operation]))).toBe(400);
  });

  it('refuses a body that is not an array', () => {
    expect(statusOf(() => applyJsonPatch(aResource(), { op: 'remove', path: '/status' }))).toBe(400);
  });

  it('stops copies that would double the resource again and again', () => {
    const doubling = Array.from({ length: 40 }, () => ({
      op: 'copy',
      from: '/securityLabel',
      path: '/securityLabel/-',
    }));
    expect(statusOf(() => applyJsonPatch(aResource(), doubling))).toBe(400);
    expect(MAX_COPIED_NODES).toBeLessThan(2 ** 20);
  });

  it('refuses a result nested deeper than a request body may be', () => {
    let value: unknown = 1;
    for (let i = 0; i < 60; i++) {
      value = [value];
    }
    const operations = [
      { op: 'add', path: '/x', value },
      { op: 'copy', from: '/x', path: `/x${'/0'.repeat(59)}/-` },
    ];
    expect(statusOf(() => applyJsonPatch(aResource(), operations))).toBe(400);
  });

  it('never touches Object.prototype', () => {
    for (const operation of [
      { op: 'remove', path: '/__proto__/hasOwnProperty' },
      { op: 'add', path: '/__proto__/polluted', value: true },
      { op: 'copy', from: '/constructor', path: '/x' },
      { op: 'move', from: '/__proto__/toString', path: '/x' },
    ]) {
      expect(statusOf(() => applyJsonPatch(aResource(), [operation]))).toBe(400);
    }
    expect(typeof Object.prototype.hasOwnProperty).toBe('function');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
