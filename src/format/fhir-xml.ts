import { FhirError, structure, tooLarge } from '../common/fhir-error.js';
import { FHIR_ELEMENTS, type FhirElementInfo } from './fhir-element-cardinality.js';
import { decodeUtf8Body, FORBIDDEN_KEYS, type FhirResource } from './fhir-json.js';

export const FHIR_NAMESPACE = 'http://hl7.org/fhir';
export const XHTML_NAMESPACE = 'http://www.w3.org/1999/xhtml';

/** The FHIR releases whose XML this converter reads. */
export type FhirXmlVersion = 'R4' | 'STU3';

/** Element nesting allowed in an XML body, narrative XHTML included; real documents stay under 40. */
export const MAX_XML_DEPTH = 128;

/**
 * Attributes allowed on one element. FHIR elements carry at most value, id, url and a few xmlns declarations, and
 * narrative XHTML elements a handful (class, style, href, colspan...); 64 leaves room for any real document.
 */
export const MAX_XML_ATTRIBUTES = 64;

/**
 * Elements allowed in one XML body: the 10 MiB body limit (MAX_RESOURCE_BYTES) over 20 bytes, about the smallest
 * real FHIR element with its indentation (`<given value="Ann"/>`), so a genuine document never meets it.
 */
export const MAX_XML_ELEMENTS = 524_288;

const NO_CHILDREN: readonly XmlElement[] = Object.freeze([]);

/** One element of the parsed XML; XHTML inside a narrative keeps only its source span. */
class XmlElement {
  children: readonly XmlElement[] = NO_CHILDREN;
  /** Offset just after the `>` that closes the element. */
  end = -1;

  constructor(
    readonly qname: string,
    readonly name: string,
    readonly namespace: string,
    /** Offset of the `<` of the start tag. */
    readonly start: number,
    readonly declaresNamespace: boolean,
    // The only attributes FHIR XML carries; xmlns, xsi:* and the like are dropped.
    readonly value: string | undefined,
    readonly id: string | undefined,
    readonly url: string | undefined,
  ) {}

  append(child: XmlElement): void {
    if (this.children === NO_CHILDREN) {
      this.children = [child];
    } else {
      (this.children as XmlElement[]).push(child);
    }
  }
}

interface Frame {
  readonly element: XmlElement;
  /** The prefixes this element binds ('' for xmlns), unbound again when it closes. */
  readonly declared: readonly string[];
  readonly inXhtml: boolean;
}

/**
 * Converts a FHIR XML request body (R4 or STU3, namespace http://hl7.org/fhir) into the FHIR JSON representation
 * (https://hl7.org/fhir/R4/json.html), using the R4 element table for cardinality and primitive types.
 *
 * DOCTYPE and ENTITY declarations are refused before parsing (400 `security`); invalid UTF-8, malformed XML,
 * a root outside the FHIR namespace and text where FHIR allows none are refused with 400 `structure`.
 * The parser is a single linear pass that never expands entities beyond the five XML ones and character references.
 */
export function parseFhirXml(body: Buffer, options: { fhirVersion?: FhirXmlVersion } = {}): FhirResource {
  let text = decodeUtf8Body(body);
  if (/<!(DOCTYPE|ENTITY)/i.test(text)) {
    throw new FhirError(400, 'security', 'XML document type declarations (DOCTYPE, ENTITY) are not allowed');
  }
  // XML 2.11: line ends are normalised to LF before parsing.
  if (text.includes('\r')) {
    text = text.replace(/\r\n?/g, '\n');
  }
  const root = new XmlReader(text).read();
  if (root.namespace !== FHIR_NAMESPACE) {
    throw structure(
      `root element <${root.qname}> is not in the FHIR namespace ${FHIR_NAMESPACE} (found "${root.namespace}")`,
    );
  }
  const version = options.fhirVersion ?? detectFhirVersionFromXml(text);
  return new FhirXmlConverter(text, version === 'STU3').resource(root);
}

/**
 * Checks a narrative `div` from FHIR JSON before it is written into XML: well-formed, an unprefixed XHTML `div`,
 * no DTD. Returns it with the XHTML namespace declared on the div; throws a 400 `structure` FhirError otherwise.
 */
export function normaliseXhtmlDiv(div: string): string {
  if (!/^<div[\s>/]/.test(div) || /<!(DOCTYPE|ENTITY)/i.test(div)) {
    throw structure('the narrative is not an XHTML <div> element');
  }
  const end = div.indexOf('>');
  const declared = /\sxmlns\s*=/.test(div.slice(0, end));
  let text = declared ? div : `<div xmlns="${XHTML_NAMESPACE}"${div.slice(4)}`;
  // As a parser would see it (XML 2.11), so that reading the XML back gives the same string.
  if (text.includes('\r')) {
    text = text.replace(/\r\n?/g, '\n');
  }
  const root = new XmlReader(text).read();
  if (root.qname !== 'div' || root.namespace !== XHTML_NAMESPACE) {
    throw structure(`the narrative div is not in the XHTML namespace ${XHTML_NAMESPACE}`);
  }
  return text;
}

/**
 * Guesses the FHIR release of an XML document: STU3 when a `meta.profile` points into an STU3 profile set
 * (NHS `https://fhir.nhs.uk/STU3/...`, CareConnect `https://fhir.hl7.org.uk/STU3/...`), R4 otherwise.
 */
export function detectFhirVersionFromXml(text: string): FhirXmlVersion {
  return /<profile\s+value\s*=\s*["'][^"'<]*\/STU3\//.test(text) ? 'STU3' : 'R4';
}

const REFERENCE = /&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z_][-A-Za-z0-9_.]*);|&|[\t\n]/g;
const GT = 0x3e;
const BANG = 0x21;
const QUESTION = 0x3f;
const SLASH = 0x2f;
// A Map, so that names like toString never resolve through Object.prototype.
const PREDEFINED: ReadonlyMap<string, string> = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['quot', '"'],
  ['apos', "'"],
]);
const NO_DECLARATIONS: readonly string[] = Object.freeze([]);

/** A small non-validating XML 1.0 reader: elements, attributes, namespaces, comments, PIs and CDATA; no DTD. */
class XmlReader {
  private i = 0;
  private selfClosing = false;
  private elements = 0;
  // Scratch space for the attributes of the start tag being read.
  private readonly attributeNames: string[] = [];
  private readonly attributeValues: string[] = [];
  private readonly seen = new Set<string>();
  /** The namespaces in scope: each prefix's bindings, innermost last; kept up to date as elements open and close. */
  private readonly bindings = new Map<string, string[]>();

  constructor(private readonly text: string) {}

  read(): XmlElement {
    const text = this.text;
    const stack: Frame[] = [];
    let root: XmlElement | undefined;
    if (text.startsWith('<?xml') && /\s/.test(text.charAt(5))) {
      this.declaration();
    }
    while (this.i < text.length) {
      const lt = text.indexOf('<', this.i);
      const textEnd = lt < 0 ? text.length : lt;
      if (textEnd > this.i) {
        this.characters(this.i, textEnd, stack[stack.length - 1]);
      }
      if (lt < 0) {
        break;
      }
      this.i = lt;
      const next = text.charCodeAt(lt + 1);
      if (next === BANG) {
        if (text.startsWith('<!--', lt)) {
          this.i = this.skipTo('-->', lt + 4, 'comment');
        } else if (text.startsWith('<![CDATA[', lt)) {
          const end = this.skipTo(']]>', lt + 9, 'CDATA section');
          const top = stack[stack.length - 1];
          if (!top || (!top.inXhtml && !isWhitespace(text, lt + 9, end - 3))) {
            this.fail(lt, 'CDATA is only allowed inside narrative XHTML');
          }
          this.i = end;
        } else {
          this.fail(lt, 'markup declarations are not allowed');
        }
      } else if (next === QUESTION) {
        const end = this.skipTo('?>', lt + 2, 'processing instruction');
        if (/^<\?xml(\s|\?)/i.test(text.slice(lt, lt + 6))) {
          this.fail(lt, 'the XML declaration is only allowed at the very start');
        }
        this.i = end;
      } else if (next === SLASH) {
        const frame = stack.pop();
        const qname = this.name(lt + 2);
        if (!frame || frame.element.qname !== qname) {
          this.fail(lt, frame ? `</${qname}> does not close <${frame.element.qname}>` : `</${qname}> closes nothing`);
        }
        this.skipWhitespace();
        this.expect('>');
        frame.element.end = this.i;
        this.unbind(frame);
      } else {
        if (root && stack.length === 0) {
          this.fail(lt, 'only one root element is allowed');
        }
        if (stack.length >= MAX_XML_DEPTH) {
          this.fail(lt, `elements are nested deeper than ${MAX_XML_DEPTH} levels`);
        }
        if (++this.elements > MAX_XML_ELEMENTS) {
          throw tooLarge(`The XML body has more than ${MAX_XML_ELEMENTS} elements, the most this server reads`);
        }
        const frame = this.startTag(stack[stack.length - 1]);
        root ??= frame.element;
        if (this.selfClosing) {
          frame.element.end = this.i;
          this.unbind(frame);
        } else {
          stack.push(frame);
        }
      }
    }
    const open = stack[stack.length - 1];
    if (open) {
      this.fail(text.length, `unexpected end of document: <${open.element.qname}> is not closed`);
    }
    if (!root) {
      this.fail(text.length, 'the document has no root element');
    }
    return root;
  }

  private declaration(): void {
    const end = this.skipTo('?>', 5, 'XML declaration');
    const encoding = /encoding\s*=\s*["']([^"']*)["']/.exec(this.text.slice(0, end))?.[1];
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) {
      this.fail(0, `only UTF-8 is supported, the declaration says ${encoding}`);
    }
    this.i = end;
  }

  private startTag(parent: Frame | undefined): Frame {
    const start = this.i;
    const text = this.text;
    const qname = this.name(start + 1);
    const names = this.attributeNames;
    const values = this.attributeValues;
    const seen = this.seen;
    let count = 0;
    seen.clear();
    this.selfClosing = false;
    for (;;) {
      const before = this.i;
      this.skipWhitespace();
      const c = text.charCodeAt(this.i);
      if (c === GT) {
        this.i++;
        break;
      }
      if (c === SLASH && text.charCodeAt(this.i + 1) === GT) {
        this.i += 2;
        this.selfClosing = true;
        break;
      }
      if (this.i === before) {
        const found = text.charAt(this.i);
        this.fail(
          this.i,
          found === '' ? `unexpected end of document in <${qname}>` : `unexpected "${found}" in <${qname}>`,
        );
      }
      const at = this.i;
      if (count === MAX_XML_ATTRIBUTES) {
        this.fail(at, `<${qname}> has more than ${MAX_XML_ATTRIBUTES} attributes`);
      }
      const name = this.name(at);
      this.skipWhitespace();
      this.expect('=');
      this.skipWhitespace();
      const quote = text.charAt(this.i);
      if (quote !== '"' && quote !== "'") {
        this.fail(this.i, `the value of attribute ${name} must be quoted`);
      }
      const close = text.indexOf(quote, this.i + 1);
      if (close < 0) {
        this.fail(this.i, `unterminated value of attribute ${name}`);
      }
      const raw = text.slice(this.i + 1, close);
      if (raw.includes('<')) {
        this.fail(this.i + 1 + raw.indexOf('<'), `"<" is not allowed in the value of attribute ${name}`);
      }
      if (seen.has(name)) {
        this.fail(at, `attribute ${name} is repeated`);
      }
      seen.add(name);
      names[count] = name;
      values[count++] = this.decode(raw, this.i + 1);
      this.i = close + 1;
    }

    let declared: string[] | undefined;
    let declaresNamespace = false;
    let value: string | undefined;
    let id: string | undefined;
    let url: string | undefined;
    for (let k = 0; k < count; k++) {
      const name = names[k];
      const decoded = values[k];
      if (name === 'value') {
        value = decoded;
      } else if (name === 'id') {
        id = decoded;
      } else if (name === 'url') {
        url = decoded;
      } else if (name === 'xmlns' || name.startsWith('xmlns:')) {
        const prefix = name === 'xmlns' ? '' : name.slice(6);
        this.bind(prefix, decoded);
        (declared ??= []).push(prefix);
        declaresNamespace ||= name === 'xmlns';
      }
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const bound = this.bindings.get(prefix);
    const namespace = bound?.[bound.length - 1];
    if (namespace === undefined && prefix !== '') {
      this.fail(start, `namespace prefix ${prefix} is not declared`);
    }
    const localName = colon < 0 ? qname : qname.slice(colon + 1);
    const element = new XmlElement(qname, localName, namespace ?? '', start, declaresNamespace, value, id, url);
    // Narrative XHTML is kept as source text, so its elements need no tree of their own.
    if (parent && !parent.inXhtml) {
      parent.element.append(element);
    }
    const inXhtml = (parent?.inXhtml ?? false) || element.namespace === XHTML_NAMESPACE;
    return { element, declared: declared ?? NO_DECLARATIONS, inXhtml };
  }

  private bind(prefix: string, namespace: string): void {
    const bound = this.bindings.get(prefix);
    if (bound) {
      bound.push(namespace);
    } else {
      this.bindings.set(prefix, [namespace]);
    }
  }

  /** Ends the scope of the namespaces an element declared, when it closes. */
  private unbind(frame: Frame): void {
    for (const prefix of frame.declared) {
      this.bindings.get(prefix)?.pop();
    }
  }

  /** Text between tags: only whitespace in FHIR elements; well-formed references in XHTML. */
  private characters(from: number, to: number, top: Frame | undefined): void {
    if (top?.inXhtml) {
      this.checkReferences(from, to);
      return;
    }
    if (!isWhitespace(this.text, from, to)) {
      let at = from;
      while (isSpace(this.text.charCodeAt(at))) {
        at++;
      }
      this.fail(
        at,
        top ? `text is not allowed in FHIR element <${top.element.qname}>` : 'text outside the root element',
      );
    }
  }

  /** Refuses a `&` in XHTML text that does not start one of the references XML allows without a DTD. */
  private checkReferences(from: number, to: number): void {
    for (let amp = this.text.indexOf('&', from); amp >= 0 && amp < to; amp = this.text.indexOf('&', amp + 1)) {
      const semicolon = this.text.indexOf(';', amp);
      this.decode(this.text.slice(amp, semicolon < 0 || semicolon >= to ? amp + 1 : semicolon + 1), amp);
    }
  }

  /** Expands the five predefined entities and character references; XML 3.3.3 turns tabs and newlines into spaces. */
  private decode(value: string, at: number): string {
    if (!value.includes('&') && !value.includes('\t') && !value.includes('\n')) {
      return value;
    }
    return value.replace(REFERENCE, (match: string, reference: string | undefined, offset: number) => {
      if (match === '\t' || match === '\n') {
        return ' ';
      }
      if (reference === undefined) {
        this.fail(at + offset, '"&" must start an entity or character reference');
      }
      if (reference.startsWith('#')) {
        const code = reference.startsWith('#x') ? parseInt(reference.slice(2), 16) : parseInt(reference.slice(1), 10);
        if (!isXmlChar(code)) {
          this.fail(at + offset, `character reference &${reference}; is not a legal XML character`);
        }
        return String.fromCodePoint(code);
      }
      const expanded = PREDEFINED.get(reference);
      if (expanded === undefined) {
        this.fail(at + offset, `undefined entity &${reference}; (only the five XML entities are allowed)`);
      }
      return expanded;
    });
  }

  private name(at: number): string {
    const text = this.text;
    if (!isNameStart(text.charCodeAt(at))) {
      this.fail(at, 'expected a name');
    }
    let end = at + 1;
    while (isNameChar(text.charCodeAt(end))) {
      end++;
    }
    this.i = end;
    return text.slice(at, end);
  }

  private skipTo(terminator: string, from: number, what: string): number {
    const end = this.text.indexOf(terminator, from);
    if (end < 0) {
      this.fail(this.text.length, `unterminated ${what}`);
    }
    return end + terminator.length;
  }

  private skipWhitespace(): void {
    while (isSpace(this.text.charCodeAt(this.i))) {
      this.i++;
    }
  }

  private expect(c: string): void {
    if (this.text.charAt(this.i) !== c) {
      this.fail(this.i, `expected "${c}"`);
    }
    this.i++;
  }

  private fail(at: number, message: string): never {
    let line = 1;
    let lineStart = 0;
    for (let n = this.text.indexOf('\n'); n >= 0 && n < at; n = this.text.indexOf('\n', n + 1)) {
      line++;
      lineStart = n + 1;
    }
    throw structure(`XML is not well-formed at line ${line}, column ${at - lineStart + 1}: ${message}`);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/** A simplified XML NameStartChar: ASCII letters, `_` and everything from U+00C0 on. */
function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0xc0 && c <= 0xffff);
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x3a) || c === 0x2d || c === 0x2e || c === 0xb7;
}

function isWhitespace(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    if (!isSpace(text.charCodeAt(k))) {
      return false;
    }
  }
  return true;
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

const NUMBER_TYPES: ReadonlySet<string> = new Set(['integer', 'decimal', 'positiveInt', 'unsignedInt']);
const INTEGER = /^[-+]?[0-9]+$/;
const DECIMAL = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/;
const RESOURCE_NAME = /^[A-Z][A-Za-z0-9]*$/;
const EXTENSION: FhirElementInfo = { repeats: true, type: 'Extension' };

const info = (type: string, repeats = false): FhirElementInfo => ({ repeats, type });

/**
 * STU3 (3.0.1) elements that matter for NHS CareConnect/ITK documents and differ from R4 in name, cardinality or
 * type. Consulted before the R4 table for STU3 documents, after it (for names R4 lacks) for R4 ones.
 */
const STU3_OVERLAY: ReadonlyMap<string, ReadonlyMap<string, FhirElementInfo>> = new Map(
  Object.entries({
    Composition: { class: info('CodeableConcept') },
    'Composition.attester': { mode: info('code', true) },
    Encounter: {
      incomingReferral: info('Reference', true),
      appointment: info('Reference'),
      reason: info('CodeableConcept', true),
    },
    'Encounter.diagnosis': { role: info('CodeableConcept') },
    Condition: {
      clinicalStatus: info('code'),
      verificationStatus: info('code'),
      context: info('Reference'),
      assertedDate: info('dateTime'),
      abatementBoolean: info('boolean'),
      stage: info('Condition.stage'),
    },
    AllergyIntolerance: {
      clinicalStatus: info('code'),
      verificationStatus: info('code'),
      assertedDate: info('dateTime'),
    },
    MedicationStatement: {
      context: info('Reference'),
      taken: info('code'),
      reasonNotTaken: info('CodeableConcept', true),
    },
    Medication: {
      isBrand: info('boolean'),
      isOverTheCounter: info('boolean'),
      package: info('Medication.package'),
      image: info('Attachment', true),
    },
    'Medication.ingredient': { isActive: info('boolean'), amount: info('Ratio') },
    'Medication.package': {
      container: info('CodeableConcept'),
      content: info('Medication.package.content', true),
      batch: info('Medication.package.batch', true),
    },
    'Medication.package.content': {
      itemCodeableConcept: info('CodeableConcept'),
      itemReference: info('Reference'),
      amount: info('Quantity'),
    },
    'Medication.package.batch': { lotNumber: info('string'), expirationDate: info('dateTime') },
    Dosage: {
      doseRange: info('Range'),
      doseQuantity: info('Quantity'),
      rateRatio: info('Ratio'),
      rateRange: info('Range'),
      rateQuantity: info('Quantity'),
    },
    Procedure: {
      definition: info('Reference', true),
      notDone: info('boolean'),
      notDoneReason: info('CodeableConcept'),
      context: info('Reference'),
    },
    'Procedure.performer': { role: info('CodeableConcept') },
    RelatedPerson: { relationship: info('CodeableConcept') },
    Flag: { category: info('CodeableConcept') },
    Observation: {
      context: info('Reference'),
      comment: info('string'),
      related: info('Observation.related', true),
    },
    'Observation.related': { type: info('code'), target: info('Reference') },
    DocumentReference: { class: info('CodeableConcept'), created: info('dateTime'), indexed: info('instant') },
    'DocumentReference.context': {
      encounter: info('Reference'),
      related: info('DocumentReference.context.related', true),
    },
    'DocumentReference.context.related': { identifier: info('Identifier'), ref: info('Reference') },
  }).map(([type, elements]) => [type, new Map(Object.entries(elements))]),
);

let anyContext: ReadonlyMap<string, Partial<FhirElementInfo>> | undefined;

/** What every R4 type that has an element of this name agrees on: used where the parent type is unknown. */
function agreedInfo(name: string): Partial<FhirElementInfo> | undefined {
  if (!anyContext) {
    const agreed = new Map<string, Partial<FhirElementInfo>>();
    for (const elements of FHIR_ELEMENTS.values()) {
      for (const [element, { repeats, type }] of elements) {
        const seen = agreed.get(element);
        if (!seen) {
          agreed.set(element, { repeats, type });
        } else {
          agreed.set(element, {
            repeats: seen.repeats === repeats ? repeats : undefined,
            type: seen.type === type ? type : undefined,
          });
        }
      }
    }
    anyContext = agreed;
  }
  return anyContext.get(name);
}

function isPrimitiveType(type: string): boolean {
  // FHIR primitive type names start in lower case; complex types and backbone paths in upper case.
  const c = type.charCodeAt(0);
  return c >= 0x61 && c <= 0x7a;
}

/** Walks the parsed XML and builds FHIR JSON, per https://hl7.org/fhir/R4/json.html. */
class FhirXmlConverter {
  constructor(
    private readonly text: string,
    private readonly stu3: boolean,
  ) {}

  resource(element: XmlElement): FhirResource {
    if (element.namespace !== FHIR_NAMESPACE || !RESOURCE_NAME.test(element.name)) {
      throw structure(`<${element.qname}> is not a FHIR resource element`);
    }
    const resource: FhirResource = { resourceType: element.name };
    this.fill(resource, element, element.name);
    return resource;
  }

  /** Copies the `id` and `url` attributes and the children of `element` (of FHIR type `type`) into `target`. */
  private fill(target: Record<string, unknown>, element: XmlElement, type: string | undefined): void {
    if (element.id !== undefined) {
      target.id = element.id;
    }
    if (element.url !== undefined) {
      target.url = element.url;
    }
    if (element.children.length === 0) {
      return;
    }
    const groups = new Map<string, XmlElement[]>();
    for (const child of element.children) {
      const isDiv = child.namespace === XHTML_NAMESPACE && child.name === 'div';
      if (child.namespace !== FHIR_NAMESPACE && !isDiv) {
        throw structure(`<${child.qname}> in <${element.qname}> is not in the FHIR namespace`);
      }
      // ExampleScenario.instance has a resourceType element; in a resource it would overwrite the type.
      const shadowsType = child.name === 'resourceType' && Object.hasOwn(target, 'resourceType');
      if (FORBIDDEN_KEYS.has(child.name) || FORBIDDEN_KEYS.has(`_${child.name}`) || shadowsType) {
        throw structure(`<${child.qname}> is not a FHIR element name`);
      }
      const group = groups.get(child.name);
      if (group) {
        group.push(child);
      } else {
        groups.set(child.name, [child]);
      }
    }
    for (const [name, children] of groups) {
      this.group(target, name, children, type);
    }
  }

  private group(target: Record<string, unknown>, name: string, children: XmlElement[], parentType?: string): void {
    const path = `${parentType ?? '?'}.${name}`;
    const first = children[0];
    const element = this.lookup(parentType, name);
    // More occurrences than R4 allows keep their data; validation reports the cardinality later.
    const repeats = (element?.repeats ?? false) || children.length > 1;
    const type = element?.type;
    const collect = (values: unknown[]): void => {
      target[name] = repeats ? values : values[0];
    };
    if (first.namespace === XHTML_NAMESPACE) {
      if (children.length > 1) {
        throw structure(`${path}: a narrative has one div`);
      }
      target[name] = this.xhtml(first);
    } else if (type === 'xhtml') {
      throw structure(`${path}: the narrative div must be in the XHTML namespace ${XHTML_NAMESPACE}`);
    } else if (type === 'Resource') {
      collect(children.map((child) => this.contained(child, path)));
    } else if ((type !== undefined && isPrimitiveType(type)) || children.some((c) => c.value !== undefined)) {
      this.primitives(target, name, children, type ?? 'string', repeats, path);
    } else {
      collect(
        children.map((child) => {
          const value: Record<string, unknown> = {};
          this.fill(value, child, type);
          return value;
        }),
      );
    }
  }

  private lookup(type: string | undefined, name: string): Partial<FhirElementInfo> | undefined {
    if (name === 'extension' || name === 'modifierExtension') {
      return EXTENSION;
    }
    if (type === undefined) {
      return agreedInfo(name);
    }
    const overlay = STU3_OVERLAY.get(type)?.get(name);
    if (overlay && this.stu3) {
      return overlay;
    }
    return FHIR_ELEMENTS.get(type)?.get(name) ?? overlay ?? agreedInfo(name);
  }

  /** `<contained>`, `<resource>`, `<outcome>`: a wrapper around exactly one resource element. */
  private contained(wrapper: XmlElement, path: string): FhirResource {
    const [inner, ...rest] = wrapper.children;
    if (!inner || rest.length > 0 || wrapper.value !== undefined) {
      throw structure(`${path} must hold exactly one resource element`);
    }
    return this.resource(inner);
  }

  private primitives(
    target: Record<string, unknown>,
    name: string,
    children: XmlElement[],
    type: string,
    repeats: boolean,
    path: string,
  ): void {
    const values: unknown[] = [];
    const extras: (Record<string, unknown> | null)[] = [];
    for (const child of children) {
      values.push(child.value === undefined ? null : this.typed(child.value, type, path));
      if (child.id === undefined && child.children.length === 0) {
        extras.push(null);
        continue;
      }
      const extra: Record<string, unknown> = {};
      if (child.id !== undefined) {
        extra.id = child.id;
      }
      const extensions = child.children.map((grandchild) => {
        if (grandchild.namespace !== FHIR_NAMESPACE || grandchild.name !== 'extension') {
          throw structure(`${path}: a primitive element may only contain extension, found <${grandchild.qname}>`);
        }
        const extension: Record<string, unknown> = {};
        this.fill(extension, grandchild, 'Extension');
        return extension;
      });
      if (extensions.length > 0) {
        extra.extension = extensions;
      }
      extras.push(extra);
    }
    // json.html: the value and its id/extensions go side by side in `x` and `_x`, arrays padded with null.
    if (repeats) {
      if (values.some((value) => value !== null)) {
        target[name] = values;
      }
      if (extras.some((extra) => extra !== null)) {
        target[`_${name}`] = extras;
      }
    } else {
      if (values[0] !== null) {
        target[name] = values[0];
      }
      if (extras[0] !== null) {
        target[`_${name}`] = extras[0];
      }
    }
  }

  private typed(raw: string, type: string, path: string): string | number | boolean {
    if (type === 'boolean') {
      if (raw !== 'true' && raw !== 'false') {
        throw new FhirError(400, 'value', `${path}: "${raw}" is not a boolean`, { expression: path });
      }
      return raw === 'true';
    }
    if (NUMBER_TYPES.has(type)) {
      const pattern = type === 'decimal' ? DECIMAL : INTEGER;
      const value = Number(raw);
      if (!pattern.test(raw) || !Number.isFinite(value)) {
        throw new FhirError(400, 'value', `${path}: "${raw}" is not a valid ${type}`, { expression: path });
      }
      return value;
    }
    return raw;
  }

  /** The narrative div exactly as written, with the XHTML namespace declared on the div itself. */
  private xhtml(div: XmlElement): string {
    if (div.qname !== 'div') {
      throw structure(`narrative <${div.qname}> must be an unprefixed XHTML div`);
    }
    const source = this.text.slice(div.start, div.end);
    return div.declaresNamespace ? source : `<div xmlns="${XHTML_NAMESPACE}"${source.slice(4)}`;
  }
}
