import { FhirError } from '../common/fhir-error.js';
import type { FhirResource } from '../format/fhir-json.js';
import { NHS_NUMBER_SYSTEM } from '../registry/nhs-number.js';
import { bannerName, conceptText, formatFhirDate, pickName, plainName } from './display.js';
import { sanitiseNarrative } from './narrative.js';

/** One Composition section as the viewer shows it: title, sanitised narrative, and its own sections in order. */
export interface SectionView {
  title: string;
  /** Sanitised XHTML, safe to place in the page. */
  narrative?: string;
  emptyReason?: string;
  sections: SectionView[];
}

export interface PatientBanner {
  name: string;
  nhsNumber?: string;
  birthDate?: string;
  gender?: string;
}

export interface AttesterView {
  mode: string;
  party: string;
  time?: string;
}

/** A FHIR document presented as R4 documents.html asks: header, subject narrative, Composition narrative, sections. */
export interface DocumentView {
  title: string;
  type: string;
  date: string;
  status: string;
  confidentiality?: string;
  patient: PatientBanner;
  /** Sanitised narrative of the subject resource. */
  patientNarrative?: string;
  authors: string[];
  custodian?: string;
  attesters: AttesterView[];
  /** Sanitised narrative of the Composition itself. */
  compositionNarrative?: string;
  sections: SectionView[];
}

type Json = Record<string, unknown>;

// sections nest; real documents go two or three deep, the parser's depth limit stops long before this
const MAX_SECTION_DEPTH = 32;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const objects = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);

/** Finds what a reference inside a document Bundle points at: by fullUrl, by Type/id, or an absolute URL's tail. */
export function bundleResolver(bundle: FhirResource): (reference: unknown) => Json | undefined {
  const entries = objects(bundle.entry).filter((e) => isObject(e.resource));
  return (reference) => {
    const ref = isObject(reference) ? text(reference.reference) : undefined;
    if (!ref) {
      return undefined;
    }
    const byFullUrl = entries.find((e) => e.fullUrl === ref);
    if (byFullUrl) {
      return byFullUrl.resource as Json;
    }
    const relative = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
    const found = entries.find((e) => {
      const resource = e.resource as Json;
      if (relative) {
        return resource.resourceType === relative[1] && resource.id === relative[2];
      }
      return typeof e.fullUrl === 'string' && ref.endsWith(`/${String(resource.resourceType)}/${String(resource.id)}`);
    });
    return found?.resource as Json | undefined;
  };
}

function narrativeOf(resource: Json | undefined): string | undefined {
  const div = isObject(resource?.text) ? text(resource.text.div) : undefined;
  if (!div) {
    return undefined;
  }
  const clean = sanitiseNarrative(div);
  // an empty div, or one whose content was all refused, says nothing
  return clean.replace(/<[^>]*>/g, '').trim() !== '' || clean.includes('<img ') ? clean : undefined;
}

/** What to call whoever a reference points at (a person, an organisation, a role). */
function partyName(reference: unknown, resolve: (reference: unknown) => Json | undefined, depth = 0): string {
  const target = resolve(reference);
  if (target) {
    switch (target.resourceType) {
      case 'Practitioner':
      case 'Patient':
      case 'RelatedPerson': {
        const name = plainName(pickName(target.name));
        if (name) {
          return name;
        }
        break;
      }
      case 'Organization':
      case 'Device':
        if (text(target.name)) {
          return text(target.name)!;
        }
        if (target.resourceType === 'Device' && text(target.deviceName)) {
          return text(target.deviceName)!;
        }
        break;
      case 'PractitionerRole':
        if (depth === 0) {
          const who = partyName(target.practitioner, resolve, 1);
          const where = partyName(target.organization, resolve, 1);
          return [who, where && `(${where})`].filter(Boolean).join(' ');
        }
        break;
    }
  }
  if (isObject(reference)) {
    const display = text(reference.display);
    if (display) {
      return display;
    }
    const identifier = isObject(reference.identifier) ? text(reference.identifier.value) : undefined;
    if (identifier) {
      return identifier;
    }
  }
  return '';
}

function bannerOf(patient: Json | undefined, subject: unknown): PatientBanner {
  if (!patient) {
    return { name: isObject(subject) ? (text(subject.display) ?? '') : '' };
  }
  const nhs = objects(patient.identifier).find((i) => i.system === NHS_NUMBER_SYSTEM);
  return {
    name: bannerName(pickName(patient.name)),
    ...(text(nhs?.value) ? { nhsNumber: text(nhs?.value) } : {}),
    ...(text(patient.birthDate) ? { birthDate: formatFhirDate(text(patient.birthDate)) } : {}),
    ...(text(patient.gender) ? { gender: text(patient.gender) } : {}),
  };
}

function sectionsOf(value: unknown, depth: number): SectionView[] {
  if (depth > MAX_SECTION_DEPTH) {
    return [];
  }
  return objects(value).map((section) => {
    const narrative = narrativeOf(section);
    const emptyReason = conceptText(section.emptyReason);
    return {
      title: text(section.title) ?? (conceptText(section.code) || 'Untitled section'),
      ...(narrative ? { narrative } : {}),
      ...(emptyReason ? { emptyReason } : {}),
      sections: sectionsOf(section.section, depth + 1),
    };
  });
}

/** R4 attester.mode is one code, STU3 a list of them. */
function attesterMode(mode: unknown): string {
  const codes = Array.isArray(mode) ? mode.filter((m): m is string => typeof m === 'string') : text(mode) ? [mode] : [];
  return (codes as string[]).map((code) => code.charAt(0).toUpperCase() + code.slice(1)).join(', ');
}

const CONFIDENTIALITY: Readonly<Record<string, string>> = {
  U: 'Unrestricted',
  L: 'Low',
  M: 'Moderate',
  N: 'Normal',
  R: 'Restricted',
  V: 'Very restricted',
};

/**
 * The view of a stored FHIR document Bundle (R4 or STU3, parsed from JSON or XML): the Composition first entry, its
 * subject, authors, attesters, custodian and sections, with every narrative sanitised.
 */
export function documentView(bundle: FhirResource): DocumentView {
  const first = objects(bundle.entry)[0];
  const composition = isObject(first?.resource) ? first.resource : undefined;
  if (bundle.resourceType !== 'Bundle' || composition?.resourceType !== 'Composition') {
    throw new FhirError(422, 'structure', 'This document has no Composition as its first entry, so it cannot be shown');
  }
  const resolve = bundleResolver(bundle);
  const patient = resolve(composition.subject);
  const confidentiality = text(composition.confidentiality);
  const custodian = composition.custodian ? partyName(composition.custodian, resolve) : '';
  const compositionNarrative = narrativeOf(composition);
  const patientNarrative = patient ? narrativeOf(patient) : undefined;
  return {
    title: text(composition.title) ?? (conceptText(composition.type) || 'Untitled document'),
    type: conceptText(composition.type),
    date: formatFhirDate(text(composition.date)),
    status: text(composition.status) ?? '',
    ...(confidentiality ? { confidentiality: CONFIDENTIALITY[confidentiality] ?? confidentiality } : {}),
    patient: bannerOf(patient, composition.subject),
    ...(patientNarrative ? { patientNarrative } : {}),
    authors: objects(composition.author)
      .map((a) => partyName(a, resolve))
      .filter(Boolean),
    ...(custodian ? { custodian } : {}),
    attesters: objects(composition.attester).map((a) => ({
      mode: attesterMode(a.mode),
      party: partyName(a.party, resolve),
      ...(text(a.time) ? { time: formatFhirDate(text(a.time)) } : {}),
    })),
    ...(compositionNarrative ? { compositionNarrative } : {}),
    sections: sectionsOf(composition.section, 0),
  };
}
