/**
 * Request and response examples of the OpenAPI document (/docs): small, and each one a request this server accepts
 * as it stands (the OpenAPI e2e test sends them), in the shapes of the test fixtures.
 */

const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const COMPOSITION = 'urn:uuid:6c5d1b0e-7a2f-4f4e-9a53-1d2f0c8b7a11';
const PATIENT = 'urn:uuid:0b8f1c6e-2d4a-4c1b-8e7f-5a9d3c2b1e22';
const AUTHOR = 'urn:uuid:9e2a7d4c-6b1f-4a3e-b5c8-7d6e5f4a3b33';
const CUSTODIAN = 'urn:uuid:3f4e5d6c-8a9b-4c0d-9e1f-2a3b4c5d6e44';
const GP = 'urn:uuid:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c55';

const uuidOf = (url: string): string => url.slice('urn:uuid:'.length);

/**
 * A discharge summary sent by trust RTG (its custodian) about the patient with NHS number 9434765919, addressed to
 * the patient's GP practice Y12345 (which gets a delivery Task).
 */
export const DOCUMENT_BUNDLE_EXAMPLE = {
  resourceType: 'Bundle',
  identifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:5b2e8f7a-3c1d-4e9b-a6f0-8d7c6b5a4e21' },
  type: 'document',
  timestamp: '2024-03-08T16:25:00+00:00',
  entry: [
    {
      fullUrl: COMPOSITION,
      resource: {
        resourceType: 'Composition',
        id: uuidOf(COMPOSITION),
        status: 'final',
        type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }] },
        subject: { reference: PATIENT },
        date: '2024-03-08T16:20:00+00:00',
        author: [{ reference: AUTHOR }],
        title: 'Inpatient discharge summary',
        custodian: { reference: CUSTODIAN },
        section: [
          {
            title: 'Plan and requested actions',
            text: {
              status: 'additional',
              div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Review by GP in two weeks.</p></div>',
            },
          },
        ],
      },
    },
    {
      fullUrl: PATIENT,
      resource: {
        resourceType: 'Patient',
        id: uuidOf(PATIENT),
        identifier: [{ system: NHS_NUMBER_SYSTEM, value: '9434765919' }],
        name: [{ family: 'Jones', given: ['Alice'] }],
        birthDate: '1961-07-14',
        generalPractitioner: [{ reference: GP }],
      },
    },
    {
      fullUrl: AUTHOR,
      resource: { resourceType: 'Practitioner', id: uuidOf(AUTHOR), name: [{ family: 'Okafor', given: ['Ngozi'] }] },
    },
    {
      fullUrl: CUSTODIAN,
      resource: {
        resourceType: 'Organization',
        id: uuidOf(CUSTODIAN),
        identifier: [{ system: ODS_SYSTEM, value: 'RTG' }],
        name: 'University Hospitals of Derby and Burton NHS Foundation Trust',
      },
    },
    {
      fullUrl: GP,
      resource: {
        resourceType: 'Organization',
        id: uuidOf(GP),
        identifier: [{ system: ODS_SYSTEM, value: 'Y12345' }],
        name: 'Riverside Medical Practice',
      },
    },
  ],
};

/** A GP practice's rest-hook Subscription to the documents addressed to it. */
export const SUBSCRIPTION_EXAMPLE = {
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'Documents addressed to Riverside Medical Practice',
  criteria: `DocumentReference?recipient=${ODS_SYSTEM}|Y12345`,
  channel: {
    type: 'rest-hook',
    endpoint: 'https://gp-system.example.org/fhir-notifications',
    payload: 'application/fhir+json',
  },
};

/** Withdraws a DocumentReference (FHIR: entered-in-error). */
export const WITHDRAW_PATCH_EXAMPLE = [{ op: 'replace', path: '/status', value: 'entered-in-error' }];

/** The recipient accepts the document it was sent (ITK3 business acknowledgement 30001). */
/** `$purge` of a document's bytes (legal erasure): the reason is mandatory. */
export const PURGE_PARAMETERS_EXAMPLE = {
  resourceType: 'Parameters',
  parameter: [{ name: 'reason', valueString: 'Court order 2026/117: erase the content of this document' }],
};

export const TASK_ACCEPT_PATCH_EXAMPLE = [
  { op: 'replace', path: '/status', value: 'completed' },
  {
    op: 'add',
    path: '/statusReason',
    value: {
      coding: [{ system: 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1', code: '30001' }],
    },
  },
];

/** A SMART Backend Services token request (RFC 7523 client assertion, signed with the client's registered key). */
export const TOKEN_REQUEST_EXAMPLE = {
  grant_type: 'client_credentials',
  scope: 'system/DocumentReference.rs system/Bundle.r',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion:
    'eyJhbGciOiJSUzM4NCIsImtpZCI6ImdwLWtleS0xIiwidHlwIjoiSldUIn0.eyJpc3MiOiJncC1zeXN0ZW0ifQ.c2lnbmF0dXJl',
};

/** POST _search form body: a patient's current discharge summaries. */
export const SEARCH_FORM_EXAMPLE = {
  'patient.identifier': `${NHS_NUMBER_SYSTEM}|9434765919`,
  type: 'http://snomed.info/sct|373942005',
  status: 'current',
};

/** An OperationOutcome as every error comes back. */
export const OPERATION_OUTCOME_EXAMPLE = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'required',
      diagnostics: 'Bundle.type must be document',
      expression: ['Bundle.type'],
    },
  ],
};
