import { unsupportedMediaType } from '../common/fhir-error.js';

export type FhirFormat = 'json' | 'xml';

export interface MediaType {
  /** Lower-case type/subtype without parameters. */
  readonly type: string;
  /** The `fhirVersion` parameter (FHIR R4 http.html#version-parameter), when given. */
  readonly fhirVersion?: string;
}

export function parseMediaType(header: string | undefined): MediaType | undefined {
  if (!header) {
    return undefined;
  }
  const [type, ...params] = header.split(';');
  let fhirVersion: string | undefined;
  for (const param of params) {
    const [name, value] = param.split('=').map((p) => p.trim());
    if (name?.toLowerCase() === 'fhirversion' && value) {
      fhirVersion = value.replace(/^"|"$/g, '');
    }
  }
  return { type: type.trim().toLowerCase(), fhirVersion };
}

// The STU3-era spellings (application/json+fhir) are still sent by older NHS systems.
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const XML_TYPES = new Set(['application/fhir+xml', 'application/xml', 'text/xml', 'application/xml+fhir']);

export function fhirFormatOf(mediaType: MediaType | undefined): FhirFormat | undefined {
  if (!mediaType) {
    return undefined;
  }
  if (JSON_TYPES.has(mediaType.type)) {
    return 'json';
  }
  if (XML_TYPES.has(mediaType.type)) {
    return 'xml';
  }
  return undefined;
}

/** The FHIR format of a request body, or 415 naming what is accepted. */
export function requireFhirFormat(mediaType: MediaType | undefined): FhirFormat {
  const format = fhirFormatOf(mediaType);
  if (!format) {
    throw unsupportedMediaType(
      `Content-Type ${mediaType?.type ?? '(none)'} is not accepted here: send application/fhir+json or application/fhir+xml`,
    );
  }
  return format;
}
