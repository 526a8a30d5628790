import {
  grantScopes,
  allows,
  hasAdminScope,
  type Interaction,
  parseScope,
  parseScopes,
  scopeNeeded,
} from './smart-scopes.js';

describe('parseScope', () => {
  it.each([
    ['system/DocumentReference.rs', 'system', 'DocumentReference', ['r', 's']],
    ['user/*.cruds', 'user', '*', ['c', 'r', 'u', 'd', 's']],
    ['patient/Observation.r', 'patient', 'Observation', ['r']],
    ['system/Binary.cud', 'system', 'Binary', ['c', 'u', 'd']],
    ['system/DocumentReference.read', 'system', 'DocumentReference', ['r', 's']],
    ['system/DocumentReference.write', 'system', 'DocumentReference', ['c', 'u', 'd']],
    ['system/DocumentReference.*', 'system', 'DocumentReference', ['c', 'r', 'u', 'd', 's']],
    ['system/*.*', 'system', '*', ['c', 'r', 'u', 'd', 's']],
    ['user/*.read', 'user', '*', ['r', 's']],
  ])('parses %s', (token, context, resourceType, interactions) => {
    expect(parseScope(token)).toEqual({
      kind: 'resource',
      raw: token,
      context,
      resourceType,
      interactions,
    });
  });

  it('keeps the search-parameter restriction of a v2 scope', () => {
    expect(parseScope('system/DocumentReference.rs?category=http://snomed.info/sct|734163000')).toEqual({
      kind: 'resource',
      raw: 'system/DocumentReference.rs?category=http://snomed.info/sct|734163000',
      context: 'system',
      resourceType: 'DocumentReference',
      interactions: ['r', 's'],
      constraint: 'category=http://snomed.info/sct|734163000',
    });
  });

  it('recognises the admin scope', () => {
    expect(parseScope('admin')).toEqual({ kind: 'admin', raw: 'admin' });
  });

  it.each([
    'openid',
    'fhirUser',
    'offline_access',
    'launch/patient',
    'Admin',
    'system/DocumentReference',
    'system/DocumentReference.',
    'system/DocumentReference.sr',
    'system/DocumentReference.rr',
    'system/DocumentReference.x',
    'system/DocumentReference.readwrite',
    'system/documentReference.rs',
    'system/DocumentReference.read?category=x',
    'device/DocumentReference.rs',
    'system/*.cruds/extra',
  ])('drops %s', (token) => {
    expect(parseScope(token)).toBeUndefined();
  });
});

describe('parseScopes', () => {
  it('splits on any whitespace and drops what it does not understand', () => {
    expect(parseScopes('openid  system/DocumentReference.rs\tadmin fhirUser').map((s) => s.raw)).toEqual([
      'system/DocumentReference.rs',
      'admin',
    ]);
  });

  it('returns nothing for an empty or missing scope string', () => {
    expect(parseScopes('')).toEqual([]);
    expect(parseScopes(undefined)).toEqual([]);
  });
});

describe('allows', () => {
  const cases: [string, string, Interaction, boolean][] = [
    ['system/DocumentReference.rs', 'DocumentReference', 's', true],
    ['system/DocumentReference.rs', 'DocumentReference', 'r', true],
    ['system/DocumentReference.rs', 'DocumentReference', 'c', false],
    ['system/DocumentReference.rs', 'Binary', 'r', false],
    ['system/*.cruds', 'Binary', 'd', true],
    ['user/*.cruds', 'Subscription', 'c', true],
    ['user/DocumentReference.c', 'DocumentReference', 'c', true],
    ['system/DocumentReference.read', 'DocumentReference', 's', true],
    ['system/DocumentReference.read', 'DocumentReference', 'u', false],
    ['system/DocumentReference.write', 'DocumentReference', 'u', true],
    ['system/DocumentReference.write', 'DocumentReference', 'r', false],
    ['system/*.*', 'AuditEvent', 's', true],
    // patient/ scopes need a launch context we do not have: they grant nothing
    ['patient/*.cruds', 'DocumentReference', 'r', false],
    // a search-parameter restriction we cannot enforce grants nothing
    ['system/DocumentReference.rs?category=http://snomed.info/sct|734163000', 'DocumentReference', 's', false],
    ['admin', 'DocumentReference', 'r', false],
    ['openid fhirUser', 'DocumentReference', 'r', false],
    ['', 'DocumentReference', 'r', false],
    ['system/DocumentReference.r system/DocumentReference.s', 'DocumentReference', 's', true],
  ];

  it.each(cases)('"%s" on %s.%s -> %s', (scope, resourceType, interaction, expected) => {
    expect(allows(parseScopes(scope), resourceType, interaction)).toBe(expected);
  });
});

describe('hasAdminScope', () => {
  it('is true only when the admin scope is present', () => {
    expect(hasAdminScope(parseScopes('openid admin'))).toBe(true);
    expect(hasAdminScope(parseScopes('system/*.cruds'))).toBe(false);
    expect(hasAdminScope(parseScopes('administrator'))).toBe(false);
  });
});

describe('scopeNeeded', () => {
  it('names the v2 system scope for the interaction', () => {
    expect(scopeNeeded('DocumentReference', 's')).toBe('system/DocumentReference.s');
    expect(scopeNeeded('Binary', 'c')).toBe('system/Binary.c');
  });
});

describe('grantScopes', () => {
  it.each([
    [
      'a scope wholly allowed, in the spelling asked',
      'system/DocumentReference.read',
      'system/*.cruds',
      ['system/DocumentReference.read'],
    ],
    [
      'the allowed part of a wider scope',
      'system/*.cruds',
      'system/DocumentReference.rs',
      ['system/DocumentReference.rs'],
    ],
    [
      'the allowed permissions of a v1 scope',
      'system/DocumentReference.write',
      'system/DocumentReference.cr',
      ['system/DocumentReference.c'],
    ],
    [
      'each requested scope on its own',
      'system/Binary.r system/Bundle.c',
      'system/Binary.rs system/Bundle.cr',
      ['system/Binary.r', 'system/Bundle.c'],
    ],
    ['nothing of another resource type', 'system/Subscription.cruds', 'system/DocumentReference.rs', []],
    ['nothing of another context', 'user/DocumentReference.rs', 'system/DocumentReference.rs', []],
    ['admin only when allowed', 'admin system/AuditEvent.rs', 'system/AuditEvent.rs', ['system/AuditEvent.rs']],
    ['admin when allowed', 'admin', 'admin system/*.rs', ['admin']],
    ['nothing for unknown or malformed scopes', 'openid launch system/Foo', 'system/*.cruds', []],
    [
      'one copy when several allowed scopes cover it',
      'system/DocumentReference.rs',
      'system/*.cruds system/DocumentReference.r',
      ['system/DocumentReference.rs'],
    ],
    [
      'a restriction the allowed scope carries',
      'system/DocumentReference.rs',
      'system/DocumentReference.rs?category=x',
      ['system/DocumentReference.rs?category=x'],
    ],
  ])('grants %s', (_label, requested, allowed, granted) => {
    expect(grantScopes(requested, allowed)).toEqual(granted);
  });
});
