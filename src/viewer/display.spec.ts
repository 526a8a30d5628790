import { bannerName, conceptText, formatFhirDate, formatNhsNumber, parseNhsNumberInput, plainName } from './display.js';

describe('NHS numbers as typed and shown', () => {
  it('shows ten digits 3-3-4', () => {
    expect(formatNhsNumber('9434765919')).toBe('943 476 5919');
  });

  it.each(['9434765919', '943 476 5919', ' 943-476-5919 '])('accepts %j', (typed) => {
    expect(parseNhsNumberInput(typed)).toEqual({ ok: true, value: '9434765919' });
  });

  it.each([
    ['', /Enter an NHS number/],
    ['943 476 591', /10 digits; this has 9/],
    ['943 476 591a', /only digits/],
    ['943 476 5918', /943 476 5918 is not a valid NHS number/],
  ])('refuses %j with a message', (typed, message) => {
    const result = parseNhsNumberInput(typed);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(message);
  });
});

describe('dates as written', () => {
  it.each([
    ['2024-03-08T16:20:00+00:00', '08-Mar-2024 16:20'],
    ['2018-06-14T10:30:00+01:00', '14-Jun-2018 10:30'],
    ['1961-07-14', '14-Jul-1961'],
    ['1961-07', 'Jul-1961'],
    ['1961', '1961'],
    ['yesterday', 'yesterday'],
    ['2024-13-01', '2024-13-01'],
  ])('%s -> %s', (value, shown) => {
    expect(formatFhirDate(value)).toBe(shown);
  });
});

describe('names', () => {
  it('shows a banner name FAMILY, Given (Title), STU3 lists of family names included', () => {
    expect(bannerName({ family: 'Jones', given: ['Alice', 'Mary'], prefix: ['Ms'] })).toBe('JONES, Alice Mary (Ms)');
    expect(bannerName({ family: ['van', 'Dijk'], given: ['Piet'] })).toBe('VAN DIJK, Piet');
    expect(bannerName({ text: 'Baby Smith' })).toBe('Baby Smith');
  });

  it('writes a person in running text', () => {
    expect(plainName({ family: 'Okafor', given: ['Ngozi'], prefix: ['Dr'] })).toBe('Dr Ngozi Okafor');
  });

  it('names a concept by text, display, then code', () => {
    expect(conceptText({ text: 'Letter', coding: [{ display: 'x' }] })).toBe('Letter');
    expect(conceptText({ coding: [{ code: '1' }, { display: 'Discharge summary' }] })).toBe('Discharge summary');
    expect(conceptText({ coding: [{ code: '373942005' }] })).toBe('373942005');
    expect(conceptText(undefined)).toBe('');
  });
});
