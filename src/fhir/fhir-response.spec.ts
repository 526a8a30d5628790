import { RawJson, stringifyJson } from './fhir-response.js';

describe('stringifyJson', () => {
  it('splices stored JSON text into the response verbatim', () => {
    const stored = '{"resourceType":"DocumentReference","id":"a","status":"current"}';
    const text = stringifyJson({ entry: [{ resource: new RawJson(stored) }, { resource: new RawJson('{"id":"b"}') }] });
    expect(text).toBe(`{"entry":[{"resource":${stored}},{"resource":{"id":"b"}}]}`);
    expect(JSON.parse(text)).toEqual({ entry: [{ resource: JSON.parse(stored) }, { resource: { id: 'b' } }] });
  });

  it('is JSON.stringify when there is nothing raw', () => {
    const body = { resourceType: 'Bundle', total: 0, link: [{ relation: 'self', url: 'x?a=%22' }] };
    expect(stringifyJson(body)).toBe(JSON.stringify(body));
  });

  it('never lets a string in the body pose as a placeholder', () => {
    const guesses = ['0', ':0', 'raw:0', '000000000000000000000000:0'];
    const text = stringifyJson({ resource: new RawJson('{"id":"real"}'), issues: guesses });
    expect(JSON.parse(text)).toEqual({ resource: { id: 'real' }, issues: guesses });
  });
});
