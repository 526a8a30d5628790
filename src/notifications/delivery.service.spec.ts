import { resourceUrl } from './delivery.service.js';

describe('resourceUrl (an R4 rest-hook endpoint read as a service base)', () => {
  it.each([
    ['https://gp.example/fhir', 'https://gp.example/fhir/DocumentReference/abc'],
    ['https://gp.example/fhir/', 'https://gp.example/fhir/DocumentReference/abc'],
    ['https://gp.example', 'https://gp.example/DocumentReference/abc'],
    ['https://gp.example/hook?key=1', 'https://gp.example/hook/DocumentReference/abc?key=1'],
  ])('%s', (base, expected) => {
    expect(resourceUrl(base, 'DocumentReference/abc')).toBe(expected);
  });
});
