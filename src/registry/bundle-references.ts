import type { FhirResource } from '../format/fhir-json.js';

/** A Bundle entry a reference resolved to; `resource` is a contained resource when the reference was `#id`. */
export interface ResolvedReference {
  fullUrl?: string;
  resource: FhirResource;
}

/** One `Reference.reference` found inside a resource, with a FHIRPath-like location such as `Composition.author[0]`. */
export interface FoundReference {
  path: string;
  reference: string;
}

interface BundleEntryLike {
  fullUrl?: unknown;
  resource?: unknown;
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
// A RESTful absolute URL: everything before `Type/id` is the server base (R4 bundle.html "Resolving references").
const RESTFUL = /^(https?:\/\/.+\/)[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const HISTORY = /^(.*)\/_history\/([A-Za-z0-9\-.]{1,64})$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isResource(value: unknown): value is FhirResource {
  return isRecord(value) && typeof value.resourceType === 'string';
}

function entriesOf(bundle: unknown): BundleEntryLike[] {
  if (!isRecord(bundle) || !Array.isArray(bundle.entry)) {
    return [];
  }
  return bundle.entry.filter(isRecord);
}

function versionOf(resource: FhirResource): string | undefined {
  const meta = resource.meta;
  return isRecord(meta) && typeof meta.versionId === 'string' ? meta.versionId : undefined;
}

function toResolved(entry: BundleEntryLike): ResolvedReference | undefined {
  if (!isResource(entry.resource)) {
    return undefined;
  }
  return typeof entry.fullUrl === 'string'
    ? { fullUrl: entry.fullUrl, resource: entry.resource }
    : { resource: entry.resource };
}

// A versioned reference matches only an entry whose meta.versionId agrees; entries without a versionId are accepted.
function versionMatches(entry: BundleEntryLike, version: string | undefined): boolean {
  if (version === undefined || !isResource(entry.resource)) {
    return true;
  }
  const actual = versionOf(entry.resource);
  return actual === undefined || actual === version;
}

function byFullUrl(
  entries: BundleEntryLike[],
  url: string,
  version: string | undefined,
): ResolvedReference | undefined {
  const entry = entries.find((e) => e.fullUrl === url && versionMatches(e, version));
  return entry ? toResolved(entry) : undefined;
}

function containedIn(entries: BundleEntryLike[], referringFullUrl: string | undefined, localId: string) {
  if (referringFullUrl === undefined) {
    return undefined;
  }
  const container = entries.find((e) => e.fullUrl === referringFullUrl);
  if (!container || !isResource(container.resource)) {
    return undefined;
  }
  // A bare `#` points back at the container resource itself.
  if (localId === '') {
    return { fullUrl: referringFullUrl, resource: container.resource };
  }
  const contained: unknown[] = Array.isArray(container.resource.contained) ? container.resource.contained : [];
  const found = contained.find((c) => isResource(c) && c.id === localId);
  return isResource(found) ? { fullUrl: referringFullUrl, resource: found } : undefined;
}

/**
 * Resolves a literal reference inside a Bundle following R4 bundle.html "Resolving references in Bundles":
 * absolute references (urn:uuid, urn:oid, http...) match `fullUrl` exactly; relative `Type/id` references are
 * resolved against the server base of the referring entry's RESTful `fullUrl`, and failing that matched against
 * entries whose resource has that type and id (what HAPI and many senders rely on); `#id` is a contained resource
 * of the referring entry. `/_history/n` is stripped before matching and then checked against `meta.versionId`.
 */
export function resolveReference(
  bundle: unknown,
  referringFullUrl: string | undefined,
  reference: string,
): ResolvedReference | undefined {
  const entries = entriesOf(bundle);
  if (reference.startsWith('#')) {
    return containedIn(entries, referringFullUrl, reference.slice(1));
  }
  const history = HISTORY.exec(reference);
  const unversioned = history ? history[1] : reference;
  const version = history ? history[2] : undefined;

  if (ABSOLUTE.test(unversioned)) {
    return byFullUrl(entries, unversioned, version);
  }
  const relative = RELATIVE.exec(unversioned);
  if (!relative) {
    return undefined;
  }
  const base = referringFullUrl === undefined ? undefined : RESTFUL.exec(referringFullUrl)?.[1];
  if (base !== undefined) {
    const found = byFullUrl(entries, base + unversioned, version);
    if (found) {
      return found;
    }
  }
  const [, type, id] = relative;
  const entry = entries.find(
    (e) =>
      isResource(e.resource) && e.resource.resourceType === type && e.resource.id === id && versionMatches(e, version),
  );
  return entry ? toResolved(entry) : undefined;
}

/**
 * Lists every `reference` string inside a resource (including contained resources and extensions), each with a
 * FHIRPath-like location rooted at `path`, e.g. `Bundle.entry[0].resource.section[1].entry[0]`.
 * Narrative is skipped; Reference elements that carry only an identifier are not listed.
 */
export function findReferences(resource: unknown, path: string): FoundReference[] {
  const found: FoundReference[] = [];
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, index) => walk(item, `${at}[${index}]`));
      return;
    }
    if (!isRecord(node)) {
      return;
    }
    if (typeof node.reference === 'string') {
      found.push({ path: at, reference: node.reference });
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'text' && isRecord(value) && typeof value.div === 'string') {
        continue;
      }
      if (typeof value === 'object' && value !== null) {
        walk(value, `${at}.${key}`);
      }
    }
  };
  walk(resource, path);
  return found;
}
