import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { aDischargeSummaryR4 } from '../../test/fixtures/documents.js';
import { FhirError } from '../common/fhir-error.js';
import type { FhirResource } from './fhir-json.js';
import { writeFhirXml } from './fhir-xml-writer.js';
import { parseFhirXml } from './fhir-xml.js';

const XHTML = 'http://www.w3.org/1999/xhtml';
const roundTrip = (resource: FhirResource): FhirResource => parseFhirXml(Buffer.from(writeFhirXml(resource)));

function refusal(resource: FhirResource): FhirError {
  try {
    writeFhirXml(resource);
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected writeFhirXml to refuse the resource');
}

/** Offsets of each tag in the XML, to check element order. */
function positions(xml: string, tags: string[]): number[] {
  return tags.map((tag) => {
    const at = xml.indexOf(tag);
    if (at < 0) {
      throw new Error(`${tag} is missing from ${xml}`);
    }
    return at;
  });
}

const ascending = (numbers: number[]): boolean => numbers.every((n, i) => i === 0 || numbers[i - 1] < n);

/** XML parsers see CR LF as LF (XML 2.11), so a narrative's line ends are the one thing a round trip changes. */
function withXmlLineEnds(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.startsWith('<div') ? value.replace(/\r\n?/g, '\n') : value;
  }
  if (Array.isArray(value)) {
    return value.map(withXmlLineEnds);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withXmlLineEnds(item)]));
  }
  return value;
}

describe('writeFhirXml', () => {
  it('round-trips the FHIR R4 example set (every file under 100 KB): parse(write(x)) deep-equals x', () => {
    const dir = join(process.cwd(), 'node_modules', 'hl7.fhir.r4.examples');
    // Files under 100 KB: 5,103 of the 5,307 resources. The big ones (definition Bundles, StructureDefinitions, 160 MB)
    // round-trip too, but would add 20 s of CPU to every unit run, next to timing-bounded tests.
    const files = readdirSync(dir).filter(
      (file) => file.endsWith('.json') && file !== 'package.json' && statSync(join(dir, file)).size < 100_000,
    );
    const failures: string[] = [];
    let checked = 0;
    for (const file of files) {
      const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as FhirResource;
      if (typeof resource.resourceType !== 'string') {
        continue;
      }
      checked++;
      try {
        if (!isDeepStrictEqual(roundTrip(resource), withXmlLineEnds(resource))) {
          failures.push(file);
        }
      } catch (error) {
        failures.push(`${file}: ${(error as Error).message}`);
      }
    }
    expect(checked).toBeGreaterThan(5000);
    expect(failures).toEqual([]);
  });

  it('writes children in R4 element order whatever the JSON order, inherited elements first', () => {
    const xml = writeFhirXml({
      resourceType: 'Patient',
      name: [{ given: ['Ann'], family: 'Smith' }],
      gender: 'female',
      identifier: [{ value: '9434765919', system: 'https://fhir.nhs.uk/Id/nhs-number' }],
      text: { div: `<div xmlns="${XHTML}">Ann</div>`, status: 'generated' },
      meta: { lastUpdated: '2024-01-01T00:00:00Z' },
      id: 'p1',
    });
    expect(
      ascending(
        positions(xml, [
          '<id value="p1"/>',
          '<meta>',
          '<text>',
          '<status',
          '<div',
          '<identifier>',
          '<system',
          '<name>',
        ]),
      ),
    ).toBe(true);
    expect(ascending(positions(xml, ['<identifier>', '<name>', '<family', '<given', '<gender']))).toBe(true);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir">')).toBe(true);
  });

  it('writes a resource id as an element, element ids and extension urls as attributes', () => {
    const xml = writeFhirXml({
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { id: 'c1', text: 'BP' },
      extension: [{ url: 'http://example.org/x', id: 'e1', valueString: 'v' }],
    });
    expect(xml).toContain('<id value="o1"/>');
    expect(xml).toContain('<extension id="e1" url="http://example.org/x"><valueString value="v"/></extension>');
    expect(xml).toContain('<code id="c1"><text value="BP"/></code>');
    expect(xml).not.toContain('<url');
  });

  it('merges _name companions into primitives, including arrays with nulls on either side', () => {
    const resource: FhirResource = {
      resourceType: 'Patient',
      birthDate: '1970-03-01',
      _birthDate: { id: 'b', extension: [{ url: 'http://example.org/time', valueDateTime: '1970-03-01T04:00:00Z' }] },
      name: [
        {
          given: ['Ann', null, 'Jo'],
          _given: [null, { extension: [{ url: 'http://example.org/nick', valueString: 'AJ' }] }, { id: 'g3' }],
        },
      ],
      _gender: { extension: [{ url: 'http://example.org/absent', valueCode: 'asked-declined' }] },
    };
    const xml = writeFhirXml(resource);
    expect(xml).toContain('<birthDate id="b" value="1970-03-01"><extension url="http://example.org/time">');
    expect(xml).toContain('<given value="Ann"/><given><extension url="http://example.org/nick">');
    expect(xml).toContain('<given id="g3" value="Jo"/>');
    expect(xml).toContain('<gender><extension url="http://example.org/absent"><valueCode value="asked-declined"/>');
    expect(roundTrip(resource)).toEqual(resource);
  });

  it('wraps nested resources in their element: contained, entry.resource, parameter.resource, response.outcome', () => {
    const outcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] };
    const bundle: FhirResource = {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [{ name: 'p', resource: { resourceType: 'Patient', id: 'x' } }],
          },
          response: { status: '200', outcome },
        },
        {
          resource: {
            resourceType: 'Observation',
            contained: [{ resourceType: 'Device', id: 'd' }],
            status: 'final',
            code: { text: 'x' },
          },
        },
      ],
    };
    const xml = writeFhirXml(bundle);
    expect(xml).toContain('<resource><Parameters><parameter><name value="p"/><resource><Patient><id value="x"/>');
    expect(xml).toContain('<outcome><OperationOutcome><issue>');
    expect(xml).toContain('<contained><Device><id value="d"/></Device></contained>');
    expect(roundTrip(bundle)).toEqual(bundle);
  });

  it('writes the narrative div as XHTML, declaring the namespace when the JSON left it out', () => {
    const div = `<div xmlns="${XHTML}"><p>Rest &amp; fluids<br/>see <a href="x?a=1&amp;b=2">notes</a></p></div>`;
    const xml = writeFhirXml({ resourceType: 'Basic', text: { status: 'generated', div }, code: { text: 'c' } });
    expect(xml).toContain(`<text><status value="generated"/>${div}</text>`);
    const bare = writeFhirXml({ resourceType: 'Basic', text: { status: 'generated', div: '<div><p>x</p></div>' } });
    expect(bare).toContain(`<div xmlns="${XHTML}"><p>x</p></div>`);
  });

  it('refuses, with 406, a narrative that is not well-formed XHTML rather than write broken XML', () => {
    for (const div of ['<div><p>unclosed</div>', 'plain text', '<div>&nbsp;</div>', '<span>x</span>']) {
      const error = refusal({ resourceType: 'Basic', text: { status: 'generated', div } });
      expect(error.status).toBe(406);
      expect(error.outcome.issue[0].code).toBe('not-supported');
    }
  });

  it('escapes markup, quotes and whitespace in values so they read back unchanged', () => {
    const resource: FhirResource = {
      resourceType: 'Basic',
      id: 'e',
      code: { text: 'a < b && c > "d" \'e\'\n\tline two\r\nthree ]]>' },
    };
    const xml = writeFhirXml(resource);
    expect(xml).toContain('a &lt; b &amp;&amp; c &gt; &quot;d&quot;');
    expect(roundTrip(resource)).toEqual(resource);
  });

  it('refuses characters XML 1.0 cannot carry, and keys that are not element names', () => {
    expect(refusal({ resourceType: 'Basic', code: { text: 'bell \u0007' } }).status).toBe(406);
    expect(refusal({ resourceType: 'Basic', 'bad key': 'x' }).status).toBe(406);
    expect(refusal({ resourceType: 'not a type' }).status).toBe(406);
  });

  it('keeps elements R4 does not know (STU3 names) after the known ones, in JSON order', () => {
    const stu3: FhirResource = {
      resourceType: 'DocumentReference',
      indexed: '2024-01-01T00:00:00Z',
      class: { text: 'Discharge' },
      status: 'current',
      type: { text: 'Discharge summary' },
      content: [{ attachment: { url: 'Binary/1' } }],
    };
    const xml = writeFhirXml(stu3);
    expect(ascending(positions(xml, ['<status', '<type>', '<content>', '<indexed', '<class>']))).toBe(true);
    expect(roundTrip(stu3)).toEqual(stu3);
  });

  it('writes booleans, integers and decimals as their JSON text', () => {
    const resource: FhirResource = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: 0.125, unit: 'mmol/L' },
      component: [
        { code: { text: 'y' }, valueBoolean: false },
        { code: { text: 'z' }, valueInteger: -3 },
      ],
    };
    const xml = writeFhirXml(resource);
    expect(xml).toContain('<value value="0.125"/>');
    expect(xml).toContain('<valueBoolean value="false"/>');
    expect(xml).toContain('<valueInteger value="-3"/>');
    expect(roundTrip(resource)).toEqual(resource);
  });

  it('writes a 40 KB discharge summary in a few milliseconds', () => {
    const document = aDischargeSummaryR4();
    const entries = document.entry as { fullUrl: string; resource: Record<string, unknown> }[];
    const template = entries[entries.length - 1];
    for (let i = 0; JSON.stringify(document).length < 40_000; i++) {
      entries.push({ ...template, fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` });
    }
    writeFhirXml(document);
    const runs = 50;
    const started = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) {
      writeFhirXml(document);
    }
    const perWriteMs = Number(process.hrtime.bigint() - started) / 1e6 / runs;
    // A generous bound: the point is that conversion is cheap next to a request, not a benchmark.
    expect(perWriteMs).toBeLessThan(25);
    expect(roundTrip(document)).toEqual(document);
  });
});
