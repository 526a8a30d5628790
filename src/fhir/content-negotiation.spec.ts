import type { FastifyRequest } from 'fastify';
import { FhirError } from '../common/fhir-error.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import {
  chooseMediaType,
  errorRepresentation,
  fhirCandidates,
  formatParameter,
  negotiate,
  outcomeBody,
  parseAccept,
  resourceRepresentation,
  useFormFormat,
} from './content-negotiation.js';

const FHIR_JSON_TYPE = 'application/fhir+json';

function aRequest(accept?: string, format?: string | string[]): FastifyRequest {
  return {
    headers: accept === undefined ? {} : { accept },
    query: format === undefined ? {} : { _format: format },
  } as unknown as FastifyRequest;
}

function refusal(run: () => unknown): FhirError {
  try {
    run();
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a FhirError');
}

describe('parseAccept', () => {
  it('reads types, q-values and wildcards, ignoring other parameters and malformed ranges', () => {
    expect(
      parseAccept('application/fhir+xml;q=0.9, text/*;level=1, */*;q=0.1, nonsense, application/json;q=2'),
    ).toEqual([
      { type: 'application', subtype: 'fhir+xml', q: 0.9 },
      { type: 'text', subtype: '*', q: 1 },
      { type: '*', subtype: '*', q: 0.1 },
      { type: 'application', subtype: 'json', q: 1 },
    ]);
  });
});

describe('chooseMediaType', () => {
  const candidates = fhirCandidates('json');

  it('gives the first candidate when Accept is absent, empty or a bare wildcard', () => {
    expect(chooseMediaType(candidates, undefined)).toBe('application/fhir+json');
    expect(chooseMediaType(candidates, '')).toBe('application/fhir+json');
    expect(chooseMediaType(candidates, '*/*')).toBe('application/fhir+json');
    expect(chooseMediaType(fhirCandidates('xml'), '*/*')).toBe('application/fhir+xml');
  });

  it('takes the highest q, then a type the client named over one reached by wildcard', () => {
    expect(chooseMediaType(candidates, 'application/fhir+json;q=0.5, application/fhir+xml')).toBe(
      'application/fhir+xml',
    );
    expect(chooseMediaType(candidates, 'application/xml, */*')).toBe('application/xml');
    expect(chooseMediaType(candidates, 'text/*')).toBe('text/xml');
    expect(chooseMediaType(candidates, 'application/fhir+json,application/json')).toBe('application/fhir+json');
  });

  it('lets a more specific range override a wildcard, including q=0 refusals', () => {
    expect(chooseMediaType(candidates, 'application/*, application/fhir+json;q=0, application/json;q=0')).toBe(
      'application/fhir+xml',
    );
  });

  it('finds nothing when no candidate is acceptable', () => {
    expect(chooseMediaType(candidates, 'application/pdf')).toBeUndefined();
    expect(chooseMediaType(candidates, '*/*;q=0')).toBeUndefined();
  });

  it('compares a candidate with parameters by its bare type', () => {
    expect(chooseMediaType(['text/plain; charset=utf-8', 'application/fhir+json'], 'text/plain')).toBe(
      'text/plain; charset=utf-8',
    );
  });
});

describe('formatParameter', () => {
  it('reads the short forms and the FHIR media types, parameters allowed', () => {
    expect(formatParameter('xml')).toEqual({ format: 'xml', mediaType: 'application/fhir+xml' });
    expect(formatParameter('json')).toEqual({ format: 'json', mediaType: 'application/fhir+json' });
    expect(formatParameter('text/xml')).toEqual({ format: 'xml', mediaType: 'text/xml' });
    expect(formatParameter('application/fhir+xml;fhirVersion=4.0')).toEqual({
      format: 'xml',
      mediaType: 'application/fhir+xml',
    });
    expect(formatParameter('html')).toBeUndefined();
    expect(formatParameter('application/pdf')).toBeUndefined();
  });
});

describe('negotiate and resourceRepresentation', () => {
  it('lets _format win over Accept', () => {
    expect(resourceRepresentation(aRequest('application/fhir+json', 'xml'))).toEqual({
      format: 'xml',
      mediaType: 'application/fhir+xml',
    });
    expect(resourceRepresentation(aRequest('application/fhir+xml', 'application/json'))).toEqual({
      format: 'json',
      mediaType: 'application/json',
    });
    expect(resourceRepresentation(aRequest(undefined, ['xml', 'json'])).format).toBe('xml');
  });

  it('answers JSON by default and XML on Accept', () => {
    expect(resourceRepresentation(aRequest()).format).toBe('json');
    expect(resourceRepresentation(aRequest('application/fhir+xml')).format).toBe('xml');
  });

  it('refuses with 406 not-supported an Accept or _format it cannot produce', () => {
    for (const request of [aRequest('application/pdf'), aRequest(undefined, 'html'), aRequest('*/*', 'turtle')]) {
      const error = refusal(() => resourceRepresentation(request));
      expect(error.status).toBe(406);
      expect(error.outcome.issue[0].code).toBe('not-supported');
    }
  });

  it('takes _format from a POST _search form body when the URL has none, refusing an unknown one at once', () => {
    const request = aRequest(FHIR_JSON_TYPE);
    useFormFormat(request, 'xml');
    expect(resourceRepresentation(request).format).toBe('xml');
    const withUrlFormat = aRequest(undefined, 'json');
    useFormFormat(withUrlFormat, 'xml');
    expect(resourceRepresentation(withUrlFormat).format).toBe('json');
    expect(refusal(() => useFormFormat(aRequest(), 'turtle')).status).toBe(406);
  });

  it('maps _format onto the candidates: the Binary resource for a FHIR format, never the raw type', () => {
    const candidates = ['image/png', 'application/fhir+json', 'application/fhir+xml'];
    expect(negotiate(aRequest('image/png', 'xml'), candidates)).toBe('application/fhir+xml');
    expect(negotiate(aRequest('application/fhir+json'), candidates)).toBe('application/fhir+json');
    expect(negotiate(aRequest('image/*'), candidates)).toBe('image/png');
    expect(negotiate(aRequest('*/*'), candidates)).toBe('image/png');
  });
});

describe('error representation', () => {
  it('falls back to JSON when the client asked for something unavailable', () => {
    expect(errorRepresentation(aRequest('application/pdf'))).toEqual({
      format: 'json',
      mediaType: 'application/fhir+json',
    });
    expect(errorRepresentation(undefined).format).toBe('json');
  });

  it('writes an OperationOutcome as XML the project parser reads back', () => {
    const outcome = {
      resourceType: 'OperationOutcome' as const,
      issue: [{ severity: 'error' as const, code: 'invalid' as const, diagnostics: 'bad <input> & "more"' }],
    };
    const { contentType, body } = outcomeBody(aRequest('application/fhir+xml'), outcome);
    expect(contentType).toBe('application/fhir+xml; charset=utf-8');
    expect(parseFhirXml(Buffer.from(body))).toEqual(outcome);
    expect(JSON.parse(outcomeBody(aRequest('application/pdf'), outcome).body)).toEqual(outcome);
  });
});
