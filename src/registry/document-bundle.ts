import { unsupportedMediaType } from '../common/fhir-error.js';
import type { IssueCode, OutcomeIssue } from '../common/operation-outcome.js';
import { findReferences, resolveReference, type ResolvedReference } from './bundle-references.js';
import type { FhirResource } from '../format/fhir-json.js';
import { isValidNhsNumber, NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM, ODS_SITE_SYSTEM } from './nhs-number.js';

export type FhirVersion = '4.0.1' | '3.0.1';

export interface Coding {
  system?: string;
  version?: string;
  code?: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Identifier {
  system?: string;
  value: string;
}

export interface Period {
  start?: string;
  end?: string;
}

export interface DocumentAuthor {
  resourceType: string;
  display?: string;
  identifiers: Identifier[];
  /** ODS code of an Organization author, or of the organisation of a PractitionerRole author. */
  odsCode?: string;
  practitionerName?: { family?: string; given: string[] };
}

export interface DocumentRelation {
  code: string;
  targetIdentifier?: Identifier;
  targetReference?: string;
}

/** What indexing a document needs, read from a valid document Bundle and normalised to R4 shapes. */
export interface DocumentFacts {
  fhirVersion: FhirVersion;
  identifier: { system: string; value: string };
  timestamp?: string;
  language?: string;
  compositionStatus: string;
  type: CodeableConcept;
  /** R4 Composition.category, or the STU3 Composition.class. */
  category: CodeableConcept[];
  date: string;
  title: string;
  description?: string;
  /** Composition.confidentiality as a v3-Confidentiality Coding. */
  confidentiality?: Coding;
  /** Bundle.meta.security and Composition.meta.security. */
  securityLabels: Coding[];
  subject: {
    /** The valid NHS number, when the Patient carries one (real HL7/IHE documents have none). */
    nhsNumber?: string;
    /** The NHS number identifier, else the Patient's first identifier with a system and value. */
    identifier?: Identifier;
    display?: string;
    fullUrl?: string;
    reference?: string;
  };
  authors: DocumentAuthor[];
  /** Optional (R4 0..1): real HL7/IHE documents have none; access rules then take the owner from the submitter. */
  custodian?: { odsCode?: string; identifiers: Identifier[]; display?: string };
  encounter?: { identifier?: Identifier; period?: Period; class?: Coding; serviceType?: CodeableConcept };
  /** Composition.event.period, else the Encounter period. */
  period?: Period;
  /** The NHS care setting extension on the Composition (UK Core and the STU3 ITK profiles). */
  practiceSetting?: CodeableConcept;
  /** Location.type of the Encounter's first location. */
  facilityType?: CodeableConcept;
  registeredGpOdsCodes: string[];
  /** ODS codes of the organisations named by the STU3 ITK InformationRecipient extension on the Composition. */
  informationRecipientOdsCodes: string[];
  relatesTo: DocumentRelation[];
}

export interface DocumentBundleValidation {
  errors: OutcomeIssue[];
  warnings: OutcomeIssue[];
  facts?: DocumentFacts;
}

const CONFIDENTIALITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const AUTHOR_TYPES = ['Practitioner', 'PractitionerRole', 'Device', 'Patient', 'RelatedPerson', 'Organization'];
const CARE_SETTING_EXTENSION = /CareSettingType(-1)?$/;
const INFORMATION_RECIPIENT_EXTENSION =
  'https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-InformationRecipient-1';
const STU3_PROFILE = /\/STU3\/|CareConnect/i;
const COMPOSITION = 'Bundle.entry[0].resource';

type Json = Record<string, unknown>;

interface ResolvedAuthor extends ResolvedReference {
  reference: Json;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

function records(value: unknown): Json[] {
  return list(value).filter(isRecord);
}

function issue(severity: 'error' | 'warning', code: IssueCode, diagnostics: string, expression: string): OutcomeIssue {
  return { severity, code, diagnostics, expression: [expression] };
}

/**
 * Picks the FHIR version of a submitted document Bundle. `declared` is the Content-Type `fhirVersion` parameter;
 * a version other than 4.0.x or 3.0.x is refused with 415. Without one, the content decides (default R4).
 */
export function detectFhirVersion(bundle: FhirResource, declared?: string): FhirVersion {
  if (declared !== undefined && declared.trim() !== '') {
    const version = declared.trim().replace(/^"|"$/g, '');
    if (/^4\.0(\.\d+)?$/.test(version)) {
      return '4.0.1';
    }
    if (/^3\.0(\.\d+)?$/.test(version)) {
      return '3.0.1';
    }
    throw unsupportedMediaType(`fhirVersion ${version} is not supported: send 4.0 (R4) or 3.0 (STU3)`);
  }
  // STU3 if a Bundle/Composition profile is STU3 or CareConnect, or Composition has `class` or a list attester.mode.
  const composition = records(bundle.entry)[0]?.resource;
  const profiles = [bundle, composition].flatMap((r) =>
    isRecord(r) && isRecord(r.meta) ? list(r.meta.profile).filter((p) => typeof p === 'string') : [],
  );
  if (profiles.some((p) => STU3_PROFILE.test(p) && !/\/R4\//i.test(p))) {
    return '3.0.1';
  }
  if (isRecord(composition) && composition.resourceType === 'Composition') {
    if (composition.class !== undefined || records(composition.attester).some((a) => Array.isArray(a.mode))) {
      return '3.0.1';
    }
  }
  return '4.0.1';
}

function identifiersOf(resource: Json): Identifier[] {
  return records(resource.identifier)
    .filter((i) => str(i.value) !== undefined)
    .map((i) =>
      str(i.system) ? { system: i.system as string, value: i.value as string } : { value: i.value as string },
    );
}

function odsCodeOf(identifiers: Identifier[]): string | undefined {
  return (
    identifiers.find((i) => i.system === ODS_ORGANIZATION_SYSTEM)?.value ??
    identifiers.find((i) => i.system === ODS_SITE_SYSTEM)?.value
  );
}

function humanName(resource: Json): { text?: string; family?: string; given: string[] } | undefined {
  const names = records(resource.name);
  const name = names.find((n) => n.use === 'official') ?? names[0];
  if (!name) {
    return undefined;
  }
  const given = list(name.given).filter((g): g is string => typeof g === 'string');
  // DSTU2-style family arrays still appear in some STU3 feeds.
  const family =
    typeof name.family === 'string'
      ? name.family
      : list(name.family)
          .filter((f) => typeof f === 'string')
          .join(' ');
  return { text: str(name.text), family: family || undefined, given };
}

function displayName(resource: Json): string | undefined {
  if (typeof resource.name === 'string') {
    return str(resource.name);
  }
  const name = humanName(resource);
  if (!name) {
    return undefined;
  }
  return name.text ?? ([...name.given, name.family].filter(Boolean).join(' ') || undefined);
}

function codeableConcept(value: unknown): CodeableConcept | undefined {
  return isRecord(value) ? value : undefined;
}

function periodOf(value: unknown): Period | undefined {
  if (!isRecord(value)) {
    return undefined;
  }
  const period: Period = {};
  if (str(value.start)) {
    period.start = value.start as string;
  }
  if (str(value.end)) {
    period.end = value.end as string;
  }
  return period.start || period.end ? period : undefined;
}

/** Reads and checks a document Bundle; never throws for bad content. */
class DocumentBundleReader {
  readonly errors: OutcomeIssue[] = [];
  readonly warnings: OutcomeIssue[] = [];
  private readonly entries: Json[];
  /** References already judged as errors, so they are not repeated as warnings. */
  private readonly checked = new Set<string>();

  constructor(
    private readonly bundle: Json,
    private readonly fhirVersion: FhirVersion,
  ) {
    this.entries = records(bundle.entry);
  }

  private error(code: IssueCode, diagnostics: string, expression: string): void {
    this.errors.push(issue('error', code, diagnostics, expression));
  }

  private resolve(referringFullUrl: string | undefined, reference: unknown): ResolvedReference | undefined {
    const ref = isRecord(reference) ? str(reference.reference) : undefined;
    return ref === undefined ? undefined : resolveReference(this.bundle, referringFullUrl, ref);
  }

  validate(): DocumentBundleValidation {
    const bundle = this.bundle;
    if (bundle.resourceType !== 'Bundle') {
      this.error(
        'value',
        `Expected a Bundle resource but got ${typeof bundle.resourceType === 'string' ? bundle.resourceType : 'no resourceType'}`,
        'Bundle',
      );
      return this.result();
    }
    if (bundle.type !== 'document') {
      this.error(
        'value',
        `Bundle.type must be 'document' to submit a document (got '${typeof bundle.type === 'string' ? bundle.type : ''}')`,
        'Bundle.type',
      );
      // bdl-7 holds for every Bundle type; the document rules do not apply.
      this.checkEntries(false);
      return this.result();
    }
    const identifier = isRecord(bundle.identifier) ? bundle.identifier : {};
    if (!str(identifier.system) || !str(identifier.value)) {
      this.error(
        'invariant',
        'bdl-9: a document Bundle must have an identifier with both a system and a value',
        'Bundle.identifier',
      );
    }
    // Bundle.timestamp only exists from R4 on.
    if (this.fhirVersion === '4.0.1' && !str(bundle.timestamp)) {
      this.error('invariant', 'bdl-10: a document Bundle must have a timestamp', 'Bundle.timestamp');
    }
    if (!this.checkEntries(true)) {
      return this.result();
    }
    const first = this.entries[0];
    const composition = first && isRecord(first.resource) ? first.resource : undefined;
    if (!composition || composition.resourceType !== 'Composition') {
      this.error(
        'invariant',
        'bdl-11: the first entry of a document Bundle must be a Composition',
        'Bundle.entry[0].resource',
      );
      this.warnUnresolved();
      return this.result();
    }
    const compositionUrl = str(first?.fullUrl);
    for (const element of ['status', 'type', 'date', 'title']) {
      if (composition[element] === undefined || composition[element] === '') {
        this.error('required', `Composition.${element} is required`, `${COMPOSITION}.${element}`);
      }
    }
    const patient = this.checkSubject(composition, compositionUrl);
    const nhsNumber = patient ? this.checkNhsNumber(patient.resource, patient.index) : undefined;
    const authors = this.checkAuthors(composition, compositionUrl);
    const custodian = this.checkCustodian(composition, compositionUrl);
    this.warnUnresolved();
    if (this.errors.length > 0 || !patient) {
      return this.result();
    }
    return this.result(this.facts(composition, compositionUrl, patient, nhsNumber, authors, custodian));
  }

  private result(facts?: DocumentFacts): DocumentBundleValidation {
    return facts
      ? { errors: this.errors, warnings: this.warnings, facts }
      : { errors: this.errors, warnings: this.warnings };
  }

  /** Checks bdl-7 and that every entry has a resource; false when a document has no entries at all. */
  private checkEntries(isDocument: boolean): boolean {
    const raw = list(this.bundle.entry);
    if (raw.length === 0) {
      if (isDocument) {
        this.error('required', 'A document Bundle must have entries, starting with its Composition', 'Bundle.entry');
      }
      return false;
    }
    const seen = new Map<string, { index: number; versions: Set<string | undefined> }>();
    raw.forEach((entry, index) => {
      const at = `Bundle.entry[${index}]`;
      if (!isRecord(entry) || !isRecord(entry.resource) || typeof entry.resource.resourceType !== 'string') {
        this.error(
          'required',
          `Every entry of a document Bundle must carry a resource (entry ${index} has none)`,
          `${at}.resource`,
        );
        return;
      }
      const fullUrl = str(entry.fullUrl);
      if (fullUrl === undefined) {
        this.warnings.push(
          issue(
            'warning',
            'required',
            `Entry ${index} has no fullUrl, so it can only be referenced by type and id`,
            `${at}.fullUrl`,
          ),
        );
        return;
      }
      const meta = isRecord(entry.resource.meta) ? entry.resource.meta : {};
      const version = str(meta.versionId);
      const previous = seen.get(fullUrl);
      // bdl-7 allows a repeated fullUrl only when each copy has a different meta.versionId.
      if (previous && (version === undefined || previous.versions.has(version) || previous.versions.has(undefined))) {
        this.error(
          'invariant',
          `bdl-7: fullUrl ${fullUrl} is used by entries ${previous.index} and ${index}; fullUrl must be unique unless the versionIds differ`,
          `${at}.fullUrl`,
        );
      }
      if (previous) {
        previous.versions.add(version);
      } else {
        seen.set(fullUrl, { index, versions: new Set([version]) });
      }
    });
    return true;
  }

  private indexOf(resolved: ResolvedReference): number {
    return this.entries.findIndex(
      (e) => e.resource === resolved.resource || (resolved.fullUrl && e.fullUrl === resolved.fullUrl),
    );
  }

  private checkSubject(composition: Json, compositionUrl: string | undefined) {
    const at = `${COMPOSITION}.subject`;
    this.checked.add(at);
    if (!isRecord(composition.subject)) {
      this.error('required', 'Composition.subject is required: a document must be about a Patient', at);
      return undefined;
    }
    const resolved = this.resolve(compositionUrl, composition.subject);
    if (!resolved) {
      this.error('business-rule', 'Composition.subject must reference a Patient included in the Bundle', at);
      return undefined;
    }
    if (resolved.resource.resourceType !== 'Patient') {
      this.error('value', `Composition.subject must be a Patient, not a ${resolved.resource.resourceType}`, at);
      return undefined;
    }
    return { ...resolved, index: this.indexOf(resolved) };
  }

  // NHS number is optional (HL7 and IHE documents have none), but every NHS number present must be valid.
  private checkNhsNumber(patient: Json, index: number): string | undefined {
    const at = `Bundle.entry[${index}].resource.identifier`;
    const valid = new Set<string>();
    records(patient.identifier).forEach((identifier, i) => {
      if (identifier.system !== NHS_NUMBER_SYSTEM) {
        return;
      }
      const value = typeof identifier.value === 'string' ? identifier.value : '';
      if (isValidNhsNumber(value)) {
        valid.add(value);
      } else if (!/^\d{10}$/.test(value)) {
        this.error(
          'value',
          `NHS number '${value}' is not valid: it must be exactly 10 digits with no spaces`,
          `${at}[${i}].value`,
        );
      } else {
        this.error(
          'value',
          `NHS number '${value}' is not valid: its modulus 11 check digit fails`,
          `${at}[${i}].value`,
        );
      }
    });
    if (valid.size > 1) {
      this.error('business-rule', `The subject Patient carries different NHS numbers (${[...valid].join(', ')})`, at);
      return undefined;
    }
    return [...valid][0];
  }

  private checkAuthors(composition: Json, compositionUrl: string | undefined): ResolvedAuthor[] {
    const authors = list(composition.author);
    if (authors.length === 0) {
      this.error('required', 'Composition.author is required', `${COMPOSITION}.author`);
      return [];
    }
    const resolved: ResolvedAuthor[] = [];
    authors.forEach((author, i) => {
      const at = `${COMPOSITION}.author[${i}]`;
      this.checked.add(at);
      const found = this.resolve(compositionUrl, author);
      if (!found) {
        this.error('business-rule', `Composition.author[${i}] must reference a resource included in the Bundle`, at);
      } else if (!AUTHOR_TYPES.includes(found.resource.resourceType)) {
        this.error(
          'value',
          `Composition.author[${i}] must be one of ${AUTHOR_TYPES.join(', ')}, not ${found.resource.resourceType}`,
          at,
        );
      } else {
        resolved.push({ ...found, reference: author as Json });
      }
    });
    return resolved;
  }

  // Custodian is optional (R4 0..1): real HL7/IHE documents have none; when present it must be an Organization here.
  private checkCustodian(composition: Json, compositionUrl: string | undefined): FhirResource | undefined {
    const at = `${COMPOSITION}.custodian`;
    this.checked.add(at);
    if (composition.custodian === undefined) {
      return undefined;
    }
    if (!isRecord(composition.custodian)) {
      this.error('structure', 'Composition.custodian must be a Reference to an Organization in the Bundle', at);
      return undefined;
    }
    const found = this.resolve(compositionUrl, composition.custodian);
    if (!found) {
      this.error('business-rule', 'Composition.custodian must reference an Organization included in the Bundle', at);
      return undefined;
    }
    if (found.resource.resourceType !== 'Organization') {
      this.error('value', `Composition.custodian must be an Organization, not a ${found.resource.resourceType}`, at);
      return undefined;
    }
    return found.resource;
  }

  private warnUnresolved(): void {
    this.entries.forEach((entry, index) => {
      const fullUrl = str(entry.fullUrl);
      for (const found of findReferences(entry.resource, `Bundle.entry[${index}].resource`)) {
        if (this.checked.has(found.path) || resolveReference(this.bundle, fullUrl, found.reference)) {
          continue;
        }
        this.warnings.push(
          issue(
            'warning',
            'not-found',
            `Reference '${found.reference}' does not resolve inside the Bundle`,
            found.path,
          ),
        );
      }
    });
  }

  private facts(
    composition: Json,
    compositionUrl: string | undefined,
    patient: ResolvedReference,
    nhsNumber: string | undefined,
    authors: ResolvedAuthor[],
    custodian: FhirResource | undefined,
  ): DocumentFacts {
    const bundleIdentifier = this.bundle.identifier as Json;
    const subjectRef = composition.subject as Json;
    const subjectDisplay = str(subjectRef.display) ?? displayName(patient.resource);
    const subjectIdentifier = nhsNumber
      ? { system: NHS_NUMBER_SYSTEM, value: nhsNumber }
      : identifiersOf(patient.resource).find((i) => i.system !== undefined);
    const facts: DocumentFacts = {
      fhirVersion: this.fhirVersion,
      identifier: { system: bundleIdentifier.system as string, value: bundleIdentifier.value as string },
      compositionStatus: String(composition.status),
      type: composition.type as CodeableConcept,
      category: [...records(composition.category), ...records(composition.class)] as CodeableConcept[],
      date: String(composition.date),
      title: String(composition.title),
      description: str(composition.title),
      securityLabels: [this.bundle, composition].flatMap((r) => (isRecord(r.meta) ? records(r.meta.security) : [])),
      subject: {
        ...(nhsNumber ? { nhsNumber } : {}),
        ...(subjectIdentifier ? { identifier: subjectIdentifier } : {}),
        ...(subjectDisplay ? { display: subjectDisplay } : {}),
        ...(patient.fullUrl ? { fullUrl: patient.fullUrl } : {}),
        ...(str(subjectRef.reference) ? { reference: subjectRef.reference as string } : {}),
      },
      authors: authors.map((author) => this.author(author)),
      ...(custodian ? { custodian: this.organisation(custodian) } : {}),
      registeredGpOdsCodes: this.registeredGps(patient),
      informationRecipientOdsCodes: this.informationRecipients(composition, compositionUrl),
      relatesTo: this.relations(composition),
    };
    if (str(this.bundle.timestamp)) {
      facts.timestamp = this.bundle.timestamp as string;
    }
    const language = str(composition.language) ?? str(this.bundle.language);
    if (language) {
      facts.language = language;
    }
    if (str(composition.confidentiality)) {
      facts.confidentiality = { system: CONFIDENTIALITY_SYSTEM, code: composition.confidentiality as string };
    }
    const setting = records(composition.extension).find(
      (e) => typeof e.url === 'string' && CARE_SETTING_EXTENSION.test(e.url),
    );
    if (setting && isRecord(setting.valueCodeableConcept)) {
      facts.practiceSetting = setting.valueCodeableConcept;
    }
    const encounter = this.resolve(compositionUrl, composition.encounter);
    if (encounter && encounter.resource.resourceType === 'Encounter') {
      this.addEncounter(facts, encounter);
    }
    const eventPeriod = records(composition.event)
      .map((e) => periodOf(e.period))
      .find((p) => p !== undefined);
    const period = eventPeriod ?? facts.encounter?.period;
    if (period) {
      facts.period = period;
    }
    return facts;
  }

  private addEncounter(facts: DocumentFacts, encounter: ResolvedReference): void {
    const resource = encounter.resource;
    const summary: NonNullable<DocumentFacts['encounter']> = {};
    const identifier = identifiersOf(resource)[0];
    if (identifier) {
      summary.identifier = identifier;
    }
    const period = periodOf(resource.period);
    if (period) {
      summary.period = period;
    }
    if (isRecord(resource.class)) {
      summary.class = resource.class;
    }
    const serviceType = codeableConcept(resource.serviceType);
    if (serviceType) {
      summary.serviceType = serviceType;
    }
    facts.encounter = summary;
    const location = records(resource.location)[0];
    const place = location ? this.resolve(encounter.fullUrl, location.location) : undefined;
    if (place && place.resource.resourceType === 'Location') {
      // R4 Location.type is a list, STU3 a single CodeableConcept.
      const type = records(place.resource.type)[0];
      if (type) {
        facts.facilityType = type;
      }
    }
  }

  private author({ resource, fullUrl, reference }: ResolvedAuthor): DocumentAuthor {
    const identifiers = identifiersOf(resource);
    const result: DocumentAuthor = { resourceType: resource.resourceType, identifiers };
    const display = str(reference.display) ?? displayName(resource);
    if (display) {
      result.display = display;
    }
    let odsCode = resource.resourceType === 'Organization' ? odsCodeOf(identifiers) : undefined;
    if (resource.resourceType === 'PractitionerRole' && isRecord(resource.organization)) {
      const organisation = this.resolve(fullUrl, resource.organization);
      odsCode = organisation
        ? odsCodeOf(identifiersOf(organisation.resource))
        : odsCodeOf(identifiersOf({ identifier: resource.organization.identifier }));
    }
    if (odsCode) {
      result.odsCode = odsCode;
    }
    if (resource.resourceType === 'Practitioner') {
      const name = humanName(resource);
      if (name) {
        result.practitionerName = name.family ? { family: name.family, given: name.given } : { given: name.given };
      }
    }
    return result;
  }

  private organisation(resource: FhirResource): NonNullable<DocumentFacts['custodian']> {
    const identifiers = identifiersOf(resource);
    const result: NonNullable<DocumentFacts['custodian']> = { identifiers };
    const odsCode = odsCodeOf(identifiers);
    if (odsCode) {
      result.odsCode = odsCode;
    }
    const display = displayName(resource);
    if (display) {
      result.display = display;
    }
    return result;
  }

  private registeredGps(patient: ResolvedReference): string[] {
    return this.odsCodesOf(patient.fullUrl, records(patient.resource.generalPractitioner), false);
  }

  // ITK3 documents name recipient Practitioners; their organisation is on a PractitionerRole elsewhere in the Bundle.
  private informationRecipients(composition: Json, compositionUrl: string | undefined): string[] {
    const references = records(composition.extension)
      .filter((e) => e.url === INFORMATION_RECIPIENT_EXTENSION)
      .flatMap((e) => records(e.valueReference));
    return this.odsCodesOf(compositionUrl, references, true);
  }

  /**
   * ODS codes of the organisations that references name: an Organization in the Bundle, the organization of a
   * PractitionerRole in the Bundle, an ODS identifier on a reference that does not resolve and, when
   * `throughRoles`, the organisations of the Bundle's PractitionerRoles for a referenced Practitioner.
   */
  private odsCodesOf(referringFullUrl: string | undefined, references: Json[], throughRoles: boolean): string[] {
    const codes = new Set<string>();
    const add = (code: string | undefined) => code && codes.add(code);
    for (const reference of references) {
      const found = this.resolve(referringFullUrl, reference);
      const resource = found?.resource;
      if (resource?.resourceType === 'PractitionerRole') {
        add(this.organisationOds(found?.fullUrl, resource.organization));
      } else if (resource?.resourceType === 'Practitioner' && throughRoles) {
        for (const role of this.entries.filter(
          (e) => isRecord(e.resource) && e.resource.resourceType === 'PractitionerRole',
        )) {
          const roleResource = role.resource as Json;
          if (this.resolve(str(role.fullUrl), roleResource.practitioner)?.resource === resource) {
            add(this.organisationOds(str(role.fullUrl), roleResource.organization));
          }
        }
      } else if (resource === undefined || resource.resourceType === 'Organization') {
        add(this.organisationOds(referringFullUrl, reference));
      }
    }
    return [...codes];
  }

  /** The ODS code of a reference to an Organization in the Bundle, or of an identifier-only reference. */
  private organisationOds(referringFullUrl: string | undefined, reference: unknown): string | undefined {
    if (!isRecord(reference)) {
      return undefined;
    }
    const found = this.resolve(referringFullUrl, reference);
    if (found) {
      return found.resource.resourceType === 'Organization' ? odsCodeOf(identifiersOf(found.resource)) : undefined;
    }
    return odsCodeOf(identifiersOf({ identifier: reference.identifier }));
  }

  private relations(composition: Json): DocumentRelation[] {
    return records(composition.relatesTo).flatMap((relation) => {
      const code = str(relation.code);
      if (!code) {
        return [];
      }
      const result: DocumentRelation = { code };
      const identifier = isRecord(relation.targetIdentifier)
        ? relation.targetIdentifier
        : isRecord(relation.targetReference) && isRecord(relation.targetReference.identifier)
          ? relation.targetReference.identifier
          : undefined;
      const [target] = identifier ? identifiersOf({ identifier }) : [];
      if (target) {
        result.targetIdentifier = target;
      }
      if (isRecord(relation.targetReference) && str(relation.targetReference.reference)) {
        result.targetReference = relation.targetReference.reference as string;
      }
      return [result];
    });
  }
}

/**
 * Checks a FHIR document Bundle against the Bundle document invariants (bdl-7, bdl-9, bdl-10 for R4, bdl-11) and
 * the registry's rules (subject Patient, authors and any custodian inside the Bundle; every NHS number valid).
 * References elsewhere that do not resolve inside the Bundle are warnings. When there are no errors, `facts` holds
 * what the DocumentReference index needs. Never throws for bad content.
 */
export function validateDocumentBundle(bundle: FhirResource, fhirVersion: FhirVersion): DocumentBundleValidation {
  if (!isRecord(bundle)) {
    return {
      errors: [issue('error', 'structure', 'The document must be a JSON object (a Bundle)', 'Bundle')],
      warnings: [],
    };
  }
  return new DocumentBundleReader(bundle, fhirVersion).validate();
}
