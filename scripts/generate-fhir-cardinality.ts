/**
 * Emits src/format/fhir-element-cardinality.ts from the FHIR R4 (4.0.1) core StructureDefinitions.
 *
 * The definitions come from the official npm package `hl7.fhir.r4.examples@4.0.1` (HL7, CC0), whose
 * `StructureDefinition-*.json` files are the core definitions (`hl7.fhir.r4.core` is not on the npm registry).
 *
 * Run from the project root:
 *   npx tsc -p tsconfig.build.json && node dist/scripts/generate-fhir-cardinality.js
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGE = 'hl7.fhir.r4.examples';
const SOURCE_DIR = join(process.cwd(), 'node_modules', PACKAGE);
const TARGET = join(process.cwd(), 'src', 'format', 'fhir-element-cardinality.ts');
const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const FHIR_TYPE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const SYSTEM_TYPES: Record<string, string> = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

interface TypeRef {
  code: string;
  extension?: { url: string; valueUrl?: string }[];
}
interface ElementDefinition {
  path: string;
  sliceName?: string;
  max?: string;
  type?: TypeRef[];
  contentReference?: string;
}
interface StructureDefinition {
  resourceType: string;
  url: string;
  type: string;
  kind: string;
  derivation?: string;
  baseDefinition?: string;
  snapshot?: { element: ElementDefinition[] };
}
interface Entry {
  name: string;
  repeats: boolean;
  type: string;
}
interface Context {
  name: string;
  base: string | undefined;
  entries: Entry[];
}

function typeName(ref: TypeRef): string {
  const declared = ref.extension?.find((e) => e.url === FHIR_TYPE_EXTENSION)?.valueUrl;
  return declared ?? SYSTEM_TYPES[ref.code] ?? ref.code;
}

function capitalize(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

function loadDefinitions(): StructureDefinition[] {
  const definitions: StructureDefinition[] = [];
  for (const file of readdirSync(SOURCE_DIR).sort()) {
    if (!file.startsWith('StructureDefinition-') || !file.endsWith('.json')) {
      continue;
    }
    const sd = JSON.parse(readFileSync(join(SOURCE_DIR, file), 'utf8')) as StructureDefinition;
    // Only the base definitions: profiles (constraints), extensions and logical models add no XML element names.
    const isBase = sd.derivation !== 'constraint' && sd.url === `${CORE}${sd.type}`;
    if (sd.resourceType === 'StructureDefinition' && isBase && (sd.kind === 'resource' || sd.kind === 'complex-type')) {
      definitions.push(sd);
    }
  }
  return definitions;
}

/** Splits one definition's snapshot into its own context plus one context per backbone element. */
function contextsOf(sd: StructureDefinition): Context[] {
  const elements = (sd.snapshot?.element ?? []).filter((e) => e.sliceName === undefined);
  const hasChildren = new Set(elements.map((e) => e.path.slice(0, e.path.lastIndexOf('.'))));
  const byParent = new Map<string, Entry[]>();
  for (const element of elements) {
    const dot = element.path.lastIndexOf('.');
    if (dot < 0) {
      continue;
    }
    const parent = element.path.slice(0, dot);
    const name = element.path.slice(dot + 1);
    const repeats = element.max !== '1' && element.max !== '0';
    const entries = byParent.get(parent) ?? [];
    byParent.set(parent, entries);
    if (element.contentReference) {
      entries.push({ name, repeats, type: element.contentReference.replace(/^.*#/, '') });
      continue;
    }
    const types = element.type ?? [];
    if (name.endsWith('[x]')) {
      for (const ref of types) {
        entries.push({ name: name.slice(0, -3) + capitalize(typeName(ref)), repeats, type: typeName(ref) });
      }
      continue;
    }
    const first = types[0] ? typeName(types[0]) : 'string';
    const inline = (first === 'BackboneElement' || first === 'Element') && hasChildren.has(element.path);
    entries.push({ name, repeats, type: inline ? element.path : first });
  }
  const contexts: Context[] = [];
  for (const [path, entries] of byParent) {
    if (path === sd.type) {
      const base = sd.baseDefinition?.startsWith(CORE) ? sd.baseDefinition.slice(CORE.length) : undefined;
      contexts.push({ name: path, base, entries });
    } else {
      const declared = elements.find((e) => e.path === path)?.type?.[0]?.code;
      contexts.push({ name: path, base: declared === 'Element' ? 'Element' : 'BackboneElement', entries });
    }
  }
  return contexts;
}

/** Drops the entries a context inherits unchanged from its base, so the table stays small. */
function ownEntries(context: Context, all: Map<string, Context>): Entry[] {
  const inherited = new Map<string, Entry>();
  for (let base = context.base; base !== undefined; base = all.get(base)?.base) {
    for (const entry of all.get(base)?.entries ?? []) {
      if (!inherited.has(entry.name)) {
        inherited.set(entry.name, entry);
      }
    }
  }
  return context.entries.filter((entry) => {
    const parent = inherited.get(entry.name);
    return !parent || parent.repeats !== entry.repeats || parent.type !== entry.type;
  });
}

/** Digit codes for the ten types whose names take the most room in the table. */
function abbreviations(contexts: [Context, Entry[]][]): Map<string, string> {
  const room = new Map<string, number>();
  for (const [, entries] of contexts) {
    for (const entry of entries) {
      room.set(entry.type, (room.get(entry.type) ?? 0) + entry.type.length - 1);
    }
  }
  const top = [...room].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
  return new Map(top.map(([type], index) => [type, String(index)]));
}

function encode(context: Context, entries: Entry[], codes: Map<string, string>): string {
  const isBackbone = context.name.includes('.');
  const defaultBase = isBackbone ? 'BackboneElement' : undefined;
  const head = context.base && context.base !== defaultBase ? `${context.name}<${context.base}` : context.name;
  const body = entries
    .map((e) => {
      // A backbone element's type is its own path: leave it implied.
      const type = e.type === `${context.name}.${e.name}` ? '' : `:${codes.get(e.type) ?? e.type}`;
      return `${e.name}${e.repeats ? '*' : ''}${type}`;
    })
    .join(',');
  return `${head}|${body}`;
}

function main(): void {
  const definitions = loadDefinitions();
  const all = new Map<string, Context>();
  for (const sd of definitions) {
    for (const context of contextsOf(sd)) {
      all.set(context.name, context);
    }
  }
  const contexts = [...all.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((context): [Context, Entry[]] => [context, ownEntries(context, all)]);
  const codes = abbreviations(contexts);
  const lines = contexts.map(([context, entries]) => encode(context, entries, codes));
  const legend = [...codes].map(([type, code]) => `${code}=${type}`).join(' ');
  const resources = definitions
    .filter((sd) => sd.kind === 'resource')
    .map((sd) => sd.type)
    .sort();
  const version = (JSON.parse(readFileSync(join(SOURCE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
  const source = `// GENERATED FILE, do not edit. Made by scripts/generate-fhir-cardinality.ts from the core StructureDefinitions
// in the npm package ${PACKAGE}@${version} (FHIR R4 ${version}). Regenerate from the project root with:
//   npx tsc -p tsconfig.build.json && node dist/scripts/generate-fhir-cardinality.js
// Format: one line per type (resource, datatype or backbone path): \`Type<Base|name*:type,...\`. \`*\` marks a repeating
// element; a missing \`:type\` means the backbone type named by the element's own path; a missing \`<Base\` on a backbone
// path means BackboneElement; a digit type is short for a frequent type (see TYPE_CODES). Choice elements are expanded
// (valueQuantity:Quantity). Inherited elements are omitted.

/** What the R4 definitions say about one child element of a type. */
export interface FhirElementInfo {
  readonly repeats: boolean;
  /** A FHIR type name (\`Quantity\`, \`boolean\`, \`Resource\`), or a backbone element's path (\`Composition.section\`). */
  readonly type: string;
}

export const FHIR_R4_VERSION = '${version}';

const TABLE = \`
${lines.join('\n')}
\`;

const TYPE_CODES = new Map('${legend}'.split(' ').map((pair) => pair.split('=') as [string, string]));

const RESOURCE_TYPES = '${resources.join(' ')}';

function load(): ReadonlyMap<string, ReadonlyMap<string, FhirElementInfo>> {
  const own = new Map<string, { base: string | undefined; elements: Map<string, FhirElementInfo> }>();
  for (const line of TABLE.split('\\n')) {
    if (line === '') {
      continue;
    }
    const [head = '', body = ''] = line.split('|');
    const [name = '', explicitBase] = head.split('<');
    const base = explicitBase ?? (name.includes('.') ? 'BackboneElement' : undefined);
    const elements = new Map<string, FhirElementInfo>();
    for (const item of body === '' ? [] : body.split(',')) {
      const [key = '', declaredType] = item.split(':');
      const repeats = key.endsWith('*');
      const element = repeats ? key.slice(0, -1) : key;
      const type = declaredType === undefined ? \`\${name}.\${element}\` : (TYPE_CODES.get(declaredType) ?? declaredType);
      elements.set(element, { repeats, type });
    }
    own.set(name, { base, elements });
  }
  const table = new Map<string, ReadonlyMap<string, FhirElementInfo>>();
  for (const [name] of own) {
    const chain: Map<string, FhirElementInfo>[] = [];
    for (let current: string | undefined = name; current !== undefined; current = own.get(current)?.base) {
      const entry = own.get(current);
      if (!entry) {
        break;
      }
      chain.unshift(entry.elements);
    }
    table.set(name, new Map(chain.flatMap((elements) => [...elements])));
  }
  return table;
}

/** Child elements of every R4 resource, datatype and backbone element (by path), inherited ones included. */
export const FHIR_ELEMENTS: ReadonlyMap<string, ReadonlyMap<string, FhirElementInfo>> = load();

/** Names of the concrete and abstract R4 resource types. */
export const FHIR_RESOURCE_TYPES: ReadonlySet<string> = new Set(RESOURCE_TYPES.split(' '));
`;
  writeFileSync(TARGET, source);
  console.log(`wrote ${TARGET}: ${lines.length} types, ${source.length} characters`);
}

main();
