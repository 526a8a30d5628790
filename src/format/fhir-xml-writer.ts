import { FhirError } from '../common/fhir-error.js';
import { FHIR_ELEMENTS } from './fhir-element-cardinality.js';
import { FHIR_NAMESPACE, normaliseXhtmlDiv } from './fhir-xml.js';

const RESOURCE_NAME = /^[A-Z][A-Za-z0-9]*$/;
// FHIR element names; anything else in stored JSON could not become an XML name.
const ELEMENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const NEEDS_ESCAPE = /[&<>"\t\n\r]/;
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};
// XML 1.0 cannot carry these at all, not even as character references.
const NOT_XML =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type Json = Record<string, unknown>;

/** Element position of each child name of a type, from the R4 table (inherited elements first). */
const orderCache = new Map<string, ReadonlyMap<string, number>>();

function orderOf(type: string | undefined): ReadonlyMap<string, number> | undefined {
  if (type === undefined) {
    return undefined;
  }
  let order = orderCache.get(type);
  if (!order) {
    const elements = FHIR_ELEMENTS.get(type);
    if (!elements) {
      return undefined;
    }
    order = new Map([...elements.keys()].map((name, index) => [name, index]));
    orderCache.set(type, order);
  }
  return order;
}

function unrepresentable(message: string): FhirError {
  return new FhirError(406, 'not-supported', `This content cannot be represented as FHIR XML: ${message}`);
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ids and urls are strings in FHIR; anything else is written as its JSON so nothing is silently dropped.
const asText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

function escape(text: string): string {
  if (NOT_XML.test(text)) {
    throw unrepresentable('a value holds a character XML 1.0 does not allow');
  }
  return NEEDS_ESCAPE.test(text) ? text.replace(/[&<>"\t\n\r]/g, (c) => ESCAPES[c]) : text;
}

/**
 * Serialises FHIR JSON (https://hl7.org/fhir/R4/json.html) as FHIR XML (xml.html), children in R4 element order
 * from the generated table. Primitives become `value` attributes with their `_name` ids and extensions; element
 * `id` and Extension `url` are attributes; contained and other Resource-typed elements are wrapped in their
 * resourceType; narrative divs are written as the XHTML they are. Elements the R4 table lacks (STU3 names) are kept,
 * after the known ones, in JSON order. Throws 406 `not-supported` for content XML cannot carry (a malformed
 * narrative, characters outside XML 1.0, keys that are not element names).
 */
export function writeFhirXml<T extends { readonly resourceType: string }>(resource: T): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  writeResource(out, resource, true);
  return out.join('');
}

function writeResource(out: string[], resource: Json, root: boolean): void {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !RESOURCE_NAME.test(type)) {
    throw unrepresentable(`"${String(type)}" is not a resource type`);
  }
  out.push(root ? `<${type} xmlns="${FHIR_NAMESPACE}">` : `<${type}>`);
  writeChildren(out, resource, type, true);
  out.push(`</${type}>`);
}

/** The children of `node` (of FHIR type `type`, if known) in element order; a resource's `id` is an element. */
function writeChildren(out: string[], node: Json, type: string | undefined, isResource: boolean): boolean {
  const order = orderOf(type);
  const names: string[] = [];
  const seen = new Set<string>();
  for (const key of Object.keys(node)) {
    const name = key.charCodeAt(0) === 0x5f ? key.slice(1) : key;
    if (seen.has(name)) {
      continue;
    }
    seen.add(name);
    if (isResource ? name === 'resourceType' : name === 'id' || (name === 'url' && type === 'Extension')) {
      continue;
    }
    names.push(name);
  }
  if (order && names.length > 1) {
    // Unknown names sort last; the sort is stable, so they keep their JSON order.
    names.sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity));
  }
  const before = out.length;
  for (const name of names) {
    const info = FHIR_ELEMENTS.get(type ?? '')?.get(name);
    if (!info && !ELEMENT_NAME.test(name)) {
      throw unrepresentable(`"${name}" is not a FHIR element name`);
    }
    const elementType = name === 'extension' || name === 'modifierExtension' ? 'Extension' : info?.type;
    writeElement(out, name, elementType, node[name], node[`_${name}`]);
  }
  return out.length > before;
}

function writeElement(out: string[], name: string, type: string | undefined, value: unknown, extra: unknown): void {
  if (Array.isArray(value) || Array.isArray(extra)) {
    const values = Array.isArray(value) ? value : [];
    const extras = Array.isArray(extra) ? extra : [];
    const length = Math.max(values.length, extras.length);
    for (let i = 0; i < length; i++) {
      writeOne(out, name, type, values[i], extras[i]);
    }
  } else {
    writeOne(out, name, type, value, extra);
  }
}

function writeOne(out: string[], name: string, type: string | undefined, value: unknown, extra: unknown): void {
  if (value === undefined || value === null) {
    if (isRecord(extra)) {
      writePrimitive(out, name, undefined, extra);
    }
    return;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    if (type === 'xhtml' || (type === undefined && name === 'div' && typeof value === 'string')) {
      try {
        out.push(normaliseXhtmlDiv(String(value)));
      } catch (error) {
        throw error instanceof FhirError ? unrepresentable(error.message) : error;
      }
      return;
    }
    writePrimitive(out, name, value, isRecord(extra) ? extra : undefined);
    return;
  }
  if (!isRecord(value)) {
    throw unrepresentable(`${name} holds an array inside an array`);
  }
  if (type === 'Resource' || (type === undefined && typeof value.resourceType === 'string')) {
    out.push(`<${name}>`);
    writeResource(out, value, false);
    out.push(`</${name}>`);
    return;
  }
  let attributes = '';
  if (value.id !== undefined && value.id !== null) {
    attributes += ` id="${escape(asText(value.id))}"`;
  }
  if (type === 'Extension' && value.url !== undefined && value.url !== null) {
    attributes += ` url="${escape(asText(value.url))}"`;
  }
  const start = out.length;
  out.push(`<${name}${attributes}>`);
  // A primitive type with an object value is not FHIR: its children are written in JSON order.
  const childType = type !== undefined && FHIR_ELEMENTS.has(type) ? type : undefined;
  if (writeChildren(out, value, childType, false)) {
    out.push(`</${name}>`);
  } else {
    out[start] = `<${name}${attributes}/>`;
  }
}

function writePrimitive(
  out: string[],
  name: string,
  value: string | number | boolean | undefined,
  extra: Json | undefined,
): void {
  let tag = `<${name}`;
  if (extra?.id !== undefined && extra.id !== null) {
    tag += ` id="${escape(asText(extra.id))}"`;
  }
  if (value !== undefined) {
    tag += ` value="${escape(String(value))}"`;
  }
  const extensions = extra?.extension;
  if (!Array.isArray(extensions) || extensions.length === 0) {
    out.push(`${tag}/>`);
    return;
  }
  out.push(`${tag}>`);
  writeElement(out, 'extension', 'Extension', extensions, undefined);
  out.push(`</${name}>`);
}
