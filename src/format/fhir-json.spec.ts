import { jest } from '@jest/globals';
import { FhirError } from '../common/fhir-error.js';
import { parseFhirJson } from './fhir-json.js';

function refusal(body: Buffer, options?: { maxDepth?: number }): FhirError {
  try {
    parseFhirJson(body, options);
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected parseFhirJson to refuse the body');
}

const patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
  name: [{ family: 'Smith', given: ['Jane', 'Ann'] }],
  active: true,
  multipleBirthInteger: 2,
};

describe('parseFhirJson', () => {
  it('parses a valid resource into a plain object', () => {
    expect(parseFhirJson(Buffer.from(JSON.stringify(patient)))).toEqual(patient);
  });

  it('keeps non-ASCII text intact', () => {
    const body = Buffer.from('{"resourceType":"Patient","name":[{"family":"Ñúñez 李"}]}', 'utf8');
    expect(parseFhirJson(body)).toEqual({ resourceType: 'Patient', name: [{ family: 'Ñúñez 李' }] });
  });

  it('accepts and drops a UTF-8 byte order mark', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(patient))]);
    expect(parseFhirJson(body)).toEqual(patient);
  });

  it('refuses a body that is not valid UTF-8', () => {
    const body = Buffer.concat([
      Buffer.from('{"resourceType":"Patient","id":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const error = refusal(body);
    expect(error.status).toBe(400);
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toBe('body is not valid UTF-8');
  });

  it('refuses a truncated body and says where it ended', () => {
    const text = JSON.stringify(patient).slice(0, 40);
    const error = refusal(Buffer.from(text));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain('not valid JSON');
    expect(error.message).toContain(`position ${text.length}`);
  });

  it('refuses a body cut between values and says where it ended', () => {
    const text = '{"resourceType":"Patient","name":[{"family":"Smith"}';
    const error = refusal(Buffer.from(text));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain(`position ${text.length}`);
  });

  it("passes the parser's position on for malformed JSON", () => {
    const error = refusal(Buffer.from('{"resourceType":"Patient",}'));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toMatch(/not valid JSON: .*position 26/);
  });

  it('refuses 10 000 levels of nesting quickly, before parsing', () => {
    const deep = `{"resourceType":"Basic","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const parse = jest.spyOn(JSON, 'parse');
    const started = performance.now();
    const error = refusal(Buffer.from(deep));
    const elapsed = performance.now() - started;
    expect(parse).not.toHaveBeenCalled();
    parse.mockRestore();
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain('deeper than 64');
    expect(elapsed).toBeLessThan(50);
  });

  it('counts brackets inside strings as text, not nesting', () => {
    const body = { resourceType: 'Basic', text: { div: '[[[[{{{{'.repeat(100) } };
    expect(parseFhirJson(Buffer.from(JSON.stringify(body)), { maxDepth: 3 })).toEqual(body);
  });

  it('honours a smaller maxDepth', () => {
    const body = Buffer.from('{"resourceType":"Basic","a":{"b":{"c":{}}}}');
    expect(parseFhirJson(body, { maxDepth: 4 })).toBeDefined();
    expect(refusal(body, { maxDepth: 3 }).message).toContain('deeper than 3');
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses the key %s nested deep in the resource', (key) => {
    const body = `{"resourceType":"Patient","contact":[{"name":{"${key}":{"polluted":true}}}]}`;
    const error = refusal(Buffer.from(body));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain(`"${key}"`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses __proto__ spelled with a unicode escape', () => {
    const error = refusal(Buffer.from('{"resourceType":"Patient","\\u005f_proto__":{"polluted":true}}'));
    expect(error.message).toContain('"__proto__"');
  });

  it('allows those words as string values', () => {
    const body = { resourceType: 'Basic', code: { text: '__proto__' }, note: [{ text: 'constructor' }] };
    expect(parseFhirJson(Buffer.from(JSON.stringify(body)))).toEqual(body);
  });

  it.each([
    ['an array', '[{"resourceType":"Patient"}]'],
    ['a string', '"Patient"'],
    ['null', 'null'],
    ['a number', '42'],
  ])('refuses %s at the top level', (_label, text) => {
    const error = refusal(Buffer.from(text));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain('must be a JSON object');
  });

  it.each([
    ['missing', '{"id":"x"}'],
    ['not a string', '{"resourceType":7}'],
    ['empty', '{"resourceType":""}'],
  ])('refuses an object whose resourceType is %s', (_label, text) => {
    const error = refusal(Buffer.from(text));
    expect(error.issues[0]?.code).toBe('structure');
    expect(error.message).toContain('resourceType');
  });

  it('refuses an empty body', () => {
    expect(refusal(Buffer.alloc(0)).issues[0]?.code).toBe('structure');
  });
});
