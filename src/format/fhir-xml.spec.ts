import { FhirError } from '../common/fhir-error.js';
import { detectFhirVersionFromXml, MAX_XML_ATTRIBUTES, MAX_XML_ELEMENTS, parseFhirXml } from './fhir-xml.js';

function xml(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function refusal(body: Buffer): FhirError {
  try {
    parseFhirXml(body);
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected parseFhirXml to refuse the body');
}

const DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Rest &amp; fluids.<br/>Review in <b>2</b> weeks.</p></div>';

const R4_DOCUMENT = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a discharge summary written for these tests -->
<Bundle xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:schemaLocation="http://hl7.org/fhir ../../schema/bundle.xsd">
  <id value="doc-1"/>
  <meta>
    <lastUpdated value="2024-05-01T10:00:00Z"/>
  </meta>
  <identifier>
    <system value="urn:ietf:rfc:3986"/>
    <value value="urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"/>
  </identifier>
  <type value="document"/>
  <timestamp value="2024-05-01T10:00:00Z"/>
  <entry>
    <fullUrl value="urn:uuid:6a1a0d4e-0001-4000-8000-000000000001"/>
    <resource>
      <Composition>
        <id value="comp-1"/>
        <status value="final"/>
        <type>
          <coding>
            <system value="http://snomed.info/sct"/>
            <code value="373942005"/>
            <display value="Discharge summary"/>
          </coding>
        </type>
        <subject>
          <reference value="urn:uuid:6a1a0d4e-0002-4000-8000-000000000002"/>
        </subject>
        <date value="2024-05-01T09:30:00Z"/>
        <author>
          <display value="Ward 7, St Elsewhere"/>
        </author>
        <title value="Discharge summary &amp; plan"/>
        <section>
          <title value="Plan"/>
          <text>
            <status value="generated"/>
            ${DIV}
          </text>
          <entry>
            <reference value="urn:uuid:6a1a0d4e-0002-4000-8000-000000000002"/>
          </entry>
        </section>
      </Composition>
    </resource>
  </entry>
  <entry>
    <fullUrl value="urn:uuid:6a1a0d4e-0002-4000-8000-000000000002"/>
    <resource>
      <Patient>
        <id value="pat-1"/>
        <contained>
          <Organization>
            <id value="gp"/>
            <name value="Acacia Surgery"/>
          </Organization>
        </contained>
        <identifier>
          <system value="https://fhir.nhs.uk/Id/nhs-number"/>
          <value value="9434765919"/>
        </identifier>
        <active value="true"/>
        <name>
          <use value="official"/>
          <family value="Smith"/>
          <given value="Jane"/>
          <given id="g2" value="Ann">
            <extension url="http://example.org/fhir/StructureDefinition/name-note">
              <valueString value="middle&#10;name"/>
            </extension>
          </given>
        </name>
        <gender value="female"/>
        <birthDate value="1970-01-01">
          <extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">
            <valueDateTime value="1970-01-01T08:15:00Z"/>
          </extension>
        </birthDate>
        <multipleBirthInteger value="2"/>
        <generalPractitioner>
          <reference value="#gp"/>
        </generalPractitioner>
      </Patient>
    </resource>
  </entry>
</Bundle>
`;

const R4_EXPECTED = {
  resourceType: 'Bundle',
  id: 'doc-1',
  meta: { lastUpdated: '2024-05-01T10:00:00Z' },
  identifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0' },
  type: 'document',
  timestamp: '2024-05-01T10:00:00Z',
  entry: [
    {
      fullUrl: 'urn:uuid:6a1a0d4e-0001-4000-8000-000000000001',
      resource: {
        resourceType: 'Composition',
        id: 'comp-1',
        status: 'final',
        type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }] },
        subject: { reference: 'urn:uuid:6a1a0d4e-0002-4000-8000-000000000002' },
        date: '2024-05-01T09:30:00Z',
        author: [{ display: 'Ward 7, St Elsewhere' }],
        title: 'Discharge summary & plan',
        section: [
          {
            title: 'Plan',
            text: { status: 'generated', div: DIV },
            entry: [{ reference: 'urn:uuid:6a1a0d4e-0002-4000-8000-000000000002' }],
          },
        ],
      },
    },
    {
      fullUrl: 'urn:uuid:6a1a0d4e-0002-4000-8000-000000000002',
      resource: {
        resourceType: 'Patient',
        id: 'pat-1',
        contained: [{ resourceType: 'Organization', id: 'gp', name: 'Acacia Surgery' }],
        identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
        active: true,
        name: [
          {
            use: 'official',
            family: 'Smith',
            given: ['Jane', 'Ann'],
            _given: [
              null,
              {
                id: 'g2',
                extension: [
                  { url: 'http://example.org/fhir/StructureDefinition/name-note', valueString: 'middle\nname' },
                ],
              },
            ],
          },
        ],
        gender: 'female',
        birthDate: '1970-01-01',
        _birthDate: {
          extension: [
            { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-01-01T08:15:00Z' },
          ],
        },
        multipleBirthInteger: 2,
        generalPractitioner: [{ reference: '#gp' }],
      },
    },
  ],
};

const STU3_DOCUMENT = `<Bundle xmlns="http://hl7.org/fhir">
  <meta><profile value="https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Document-Bundle-1"/></meta>
  <type value="document"/>
  <entry>
    <resource>
      <Composition>
        <status value="final"/>
        <class><coding><system value="http://snomed.info/sct"/><code value="734163000"/></coding></class>
        <subject><reference value="urn:uuid:p"/></subject>
        <attester><mode value="legal"/><party><reference value="urn:uuid:dr"/></party></attester>
      </Composition>
    </resource>
  </entry>
  <entry>
    <resource>
      <MedicationStatement>
        <status value="active"/>
        <taken value="y"/>
        <reasonNotTaken><text value="none"/></reasonNotTaken>
        <dosage><doseQuantity><value value="2.50"/><unit value="tablet"/></doseQuantity></dosage>
      </MedicationStatement>
    </resource>
  </entry>
  <entry>
    <resource>
      <Flag>
        <status value="active"/>
        <category><text value="Safeguarding"/></category>
      </Flag>
    </resource>
  </entry>
  <entry>
    <resource>
      <ProcedureRequest>
        <status value="active"/>
        <code><coding><code value="x"/></coding></code>
        <note><text value="one"/></note>
        <note><text value="two"/></note>
      </ProcedureRequest>
    </resource>
  </entry>
</Bundle>`;

describe('parseFhirXml', () => {
  it('converts an R4 document Bundle to FHIR JSON', () => {
    expect(parseFhirXml(xml(R4_DOCUMENT))).toEqual(R4_EXPECTED);
  });

  it('gives the same JSON for CRLF line ends, a byte order mark and single-quoted attributes', () => {
    const variant = R4_DOCUMENT.replace(/\n/g, '\r\n').replace('<type value="document"/>', "<type value='document'/>");
    const result = parseFhirXml(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), xml(variant)]));
    expect(result).toEqual(R4_EXPECTED);
  });

  it('converts numbers and booleans by their FHIR type and keeps other primitives as strings', () => {
    const body = `<Observation xmlns="http://hl7.org/fhir">
      <status value="final"/>
      <code><text value="0042"/></code>
      <valueQuantity><value value="37.50"/><unit value="Cel"/><code value="000"/></valueQuantity>
      <component><code><text value="a"/></code><valueBoolean value="false"/></component>
      <component><code><text value="b"/></code><valueInteger value="-3"/></component>
    </Observation>`;
    expect(parseFhirXml(xml(body))).toEqual({
      resourceType: 'Observation',
      status: 'final',
      code: { text: '0042' },
      valueQuantity: { value: 37.5, unit: 'Cel', code: '000' },
      component: [
        { code: { text: 'a' }, valueBoolean: false },
        { code: { text: 'b' }, valueInteger: -3 },
      ],
    });
  });

  it('keeps unknown elements, as arrays when repeated', () => {
    const body = `<Patient xmlns="http://hl7.org/fhir">
      <futureThing><flavour value="a"/></futureThing><futureThing><flavour value="b"/></futureThing>
      <oddity value="x"/>
    </Patient>`;
    expect(parseFhirXml(xml(body))).toEqual({
      resourceType: 'Patient',
      futureThing: [{ flavour: 'a' }, { flavour: 'b' }],
      oddity: 'x',
    });
  });

  it('converts an STU3 document with the STU3 cardinalities and types', () => {
    const result = parseFhirXml(xml(STU3_DOCUMENT));
    const resources = (result.entry as { resource: Record<string, unknown> }[]).map((entry) => entry.resource);
    expect(resources).toEqual([
      {
        resourceType: 'Composition',
        status: 'final',
        class: { coding: [{ system: 'http://snomed.info/sct', code: '734163000' }] },
        subject: { reference: 'urn:uuid:p' },
        attester: [{ mode: ['legal'], party: { reference: 'urn:uuid:dr' } }],
      },
      {
        resourceType: 'MedicationStatement',
        status: 'active',
        taken: 'y',
        reasonNotTaken: [{ text: 'none' }],
        dosage: [{ doseQuantity: { value: 2.5, unit: 'tablet' } }],
      },
      { resourceType: 'Flag', status: 'active', category: { text: 'Safeguarding' } },
      {
        // Not an R4 resource: cardinality comes from what R4 types agree on, or from the occurrences.
        resourceType: 'ProcedureRequest',
        status: 'active',
        code: { coding: [{ code: 'x' }] },
        note: [{ text: 'one' }, { text: 'two' }],
      },
    ]);
  });

  it('reads a document as R4 unless it claims STU3 profiles or is told otherwise', () => {
    const withoutProfile = STU3_DOCUMENT.replace(/<meta>.*<\/meta>/, '');
    expect(detectFhirVersionFromXml(STU3_DOCUMENT)).toBe('STU3');
    expect(detectFhirVersionFromXml(withoutProfile)).toBe('R4');
    const attester = (body: Buffer, version?: 'R4' | 'STU3'): unknown => {
      const bundle = parseFhirXml(body, version ? { fhirVersion: version } : {});
      return ((bundle.entry as { resource: { attester: unknown[] } }[])[0]?.resource.attester)[0];
    };
    expect(attester(xml(withoutProfile))).toEqual({ mode: 'legal', party: { reference: 'urn:uuid:dr' } });
    expect(attester(xml(withoutProfile), 'STU3')).toEqual({ mode: ['legal'], party: { reference: 'urn:uuid:dr' } });
  });

  it('keeps resourceType where FHIR defines it as an element (ExampleScenario.instance)', () => {
    const body = `<ExampleScenario xmlns="http://hl7.org/fhir"><status value="draft"/>
      <instance><resourceId value="r1"/><resourceType value="MedicationRequest"/></instance></ExampleScenario>`;
    expect(parseFhirXml(xml(body))).toEqual({
      resourceType: 'ExampleScenario',
      status: 'draft',
      instance: [{ resourceId: 'r1', resourceType: 'MedicationRequest' }],
    });
  });

  it('unwraps the resources of Parameters and of a Bundle response outcome', () => {
    const body = `<Bundle xmlns="http://hl7.org/fhir"><type value="batch-response"/>
      <entry><response><status value="400"/><outcome><OperationOutcome>
        <issue><severity value="error"/><code value="invalid"/></issue></OperationOutcome></outcome></response></entry>
      <entry><resource><Parameters><parameter><name value="p"/><resource><Patient><active value="false"/></Patient></resource>
        </parameter></Parameters></resource></entry></Bundle>`;
    expect(parseFhirXml(xml(body))).toEqual({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        {
          response: {
            status: '400',
            outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] },
          },
        },
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [{ name: 'p', resource: { resourceType: 'Patient', active: false } }],
          },
        },
      ],
    });
  });

  it('adds the XHTML namespace to a narrative div that inherits it', () => {
    const inherited = `<f:Basic xmlns:f="http://hl7.org/fhir" xmlns="http://www.w3.org/1999/xhtml"><f:text>
      <f:status value="generated"/><div><p>hi</p></div></f:text></f:Basic>`;
    expect(parseFhirXml(xml(inherited))).toEqual({
      resourceType: 'Basic',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>hi</p></div>' },
    });
  });

  it('converts a 1 MB document in linear time', () => {
    const entry = R4_DOCUMENT.slice(R4_DOCUMENT.indexOf('<entry>'), R4_DOCUMENT.lastIndexOf('</Bundle>'));
    const head = R4_DOCUMENT.slice(0, R4_DOCUMENT.indexOf('<entry>'));
    const big = xml(`${head}${entry.repeat(Math.ceil(1_000_000 / entry.length))}</Bundle>`);
    parseFhirXml(big); // warm-up: the bound is about complexity, not JIT compilation
    const started = performance.now();
    const result = parseFhirXml(big);
    expect(performance.now() - started).toBeLessThan(500);
    expect((result.entry as unknown[]).length).toBeGreaterThan(300);
  });

  it('reads namespace declarations on many elements in linear time, each scoped to its element', () => {
    const declarations = Array.from({ length: 60 }, (_, k) => `xmlns:p${k}="urn:p${k}"`).join(' ');
    const sibling = `<p7:code xmlns:p7="http://hl7.org/fhir" ${declarations.replace('xmlns:p7="urn:p7" ', '')}/>`;
    const body = xml(
      `<Basic xmlns="http://hl7.org/fhir">${sibling.repeat(Math.ceil(2_000_000 / sibling.length))}</Basic>`,
    );
    parseFhirXml(body);
    const started = performance.now();
    const result = parseFhirXml(body);
    // linear, not quadratic (which took minutes); the bound only tells the two apart on a loaded machine
    expect(performance.now() - started).toBeLessThan(5000);
    expect((result.code as unknown[]).length).toBeGreaterThan(1000);
    const leaked = '<Basic xmlns="http://hl7.org/fhir"><f:code xmlns:f="http://hl7.org/fhir"/><f:code/></Basic>';
    expect(refusal(xml(leaked)).message).toContain('prefix f is not declared');
  });

  it('restores the default namespace of the parent after an element that redeclares it', () => {
    const body = `<Basic xmlns="http://hl7.org/fhir"><text><status value="generated"/>
      <div xmlns="http://www.w3.org/1999/xhtml"><p xmlns="urn:other"/></div></text><code><text value="c"/></code></Basic>`;
    expect(parseFhirXml(xml(body))).toMatchObject({ resourceType: 'Basic', code: { text: 'c' } });
  });

  it('expands numeric character references to the characters they name', () => {
    const body =
      '<Basic xmlns="http://hl7.org/fhir"><code><text value="&#65;&#x42;&#x1F600;&lt;&apos;"/></code></Basic>';
    expect(parseFhirXml(xml(body))).toEqual({ resourceType: 'Basic', code: { text: "AB\u{1F600}<'" } });
  });

  it(`accepts ${MAX_XML_ATTRIBUTES} attributes on one element`, () => {
    const attributes = Array.from({ length: MAX_XML_ATTRIBUTES - 2 }, (_, k) => `a${k}="x"`).join(' ');
    const body = `<Basic xmlns="http://hl7.org/fhir"><code id="c" ${attributes} value="v"/></Basic>`;
    expect(parseFhirXml(xml(body))).toEqual({ resourceType: 'Basic', code: 'v', _code: { id: 'c' } });
  });

  describe('refuses', () => {
    it('a billion-laughs DTD before parsing it', () => {
      const laughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&lol9;"/></name></Patient>`;
      const error = refusal(xml(laughs));
      expect(error.status).toBe(400);
      expect(error.issues[0]?.code).toBe('security');
      expect(error.message).toContain('DOCTYPE');
    });

    it('an external entity', () => {
      const xxe = `<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>`;
      const error = refusal(xml(xxe));
      expect(error.issues[0]?.code).toBe('security');
      expect(JSON.stringify(error.outcome)).not.toContain('root:');
    });

    it('an ENTITY declaration even without a DOCTYPE', () => {
      expect(refusal(xml('<Patient xmlns="http://hl7.org/fhir"><!ENTITY x "y"></Patient>')).issues[0]?.code).toBe(
        'security',
      );
    });

    it('a reference to an entity XML does not predefine', () => {
      const error = refusal(xml('<Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>'));
      expect(error.issues[0]?.code).toBe('structure');
      expect(error.message).toContain('undefined entity &xxe;');
    });

    it('invalid UTF-8', () => {
      const body = Buffer.concat([
        xml('<Patient xmlns="http://hl7.org/fhir"><id value="'),
        Buffer.from([0xff]),
        xml('"/></Patient>'),
      ]);
      expect(refusal(body).message).toBe('body is not valid UTF-8');
    });

    it('a declared encoding other than UTF-8', () => {
      const error = refusal(xml('<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>'));
      expect(error.message).toContain('ISO-8859-1');
    });

    it.each([
      [
        'a mismatched end tag',
        '<Patient xmlns="http://hl7.org/fhir">\n  <name>\n  </nome>\n</Patient>',
        'line 3, column 3',
      ],
      ['a truncated document', '<Patient xmlns="http://hl7.org/fhir">\n  <name>', '<name> is not closed'],
      ['an unquoted attribute', '<Patient xmlns="http://hl7.org/fhir"><id value=x/></Patient>', 'must be quoted'],
      ['a repeated attribute', '<Patient xmlns="http://hl7.org/fhir"><id value="a" value="b"/></Patient>', 'repeated'],
      ['a second root', '<Patient xmlns="http://hl7.org/fhir"/><Patient xmlns="http://hl7.org/fhir"/>', 'one root'],
      ['a bare ampersand', '<Patient xmlns="http://hl7.org/fhir"><id value="a&b"/></Patient>', '"&"'],
      ['an undeclared prefix', '<f:Patient xmlns="http://hl7.org/fhir"/>', 'prefix f'],
      [
        'text in a FHIR element',
        '<Patient xmlns="http://hl7.org/fhir"><id value="1"/>hello</Patient>',
        'text is not allowed',
      ],
      ['an empty body', '', 'no root element'],
    ])('malformed XML: %s, saying where', (_label, body, detail) => {
      const error = refusal(xml(body));
      expect(error.status).toBe(400);
      expect(error.issues[0]?.code).toBe('structure');
      expect(error.message).toMatch(/^XML is not well-formed at line \d+, column \d+: /);
      expect(error.message).toContain(detail);
    });

    it.each([
      ['no namespace', '<Patient><id value="1"/></Patient>'],
      ['another namespace', '<Patient xmlns="urn:hl7-org:v3"><id value="1"/></Patient>'],
    ])('a root element in %s', (_label, body) => {
      const error = refusal(xml(body));
      expect(error.issues[0]?.code).toBe('structure');
      expect(error.message).toContain('not in the FHIR namespace');
    });

    it('a foreign element inside a resource', () => {
      const error = refusal(
        xml('<Patient xmlns="http://hl7.org/fhir"><x:id xmlns:x="urn:other" value="1"/></Patient>'),
      );
      expect(error.message).toContain('not in the FHIR namespace');
    });

    it.each(['__proto__', 'constructor', 'prototype', '_proto__'])('an element named %s', (name) => {
      const error = refusal(xml(`<Patient xmlns="http://hl7.org/fhir"><name><${name} value="x"/></name></Patient>`));
      expect(error.issues[0]?.code).toBe('structure');
      expect(error.message).toContain(name);
    });

    it('a resourceType element that would change the type of a resource', () => {
      const error = refusal(xml('<Patient xmlns="http://hl7.org/fhir"><resourceType value="Organization"/></Patient>'));
      expect(error.issues[0]?.code).toBe('structure');
      expect(error.message).toContain('resourceType');
    });

    it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'])(
      'an entity named like an Object property (&%s;), naming it, in attributes and in narrative text',
      (name) => {
        const inAttribute = refusal(xml(`<Basic xmlns="http://hl7.org/fhir"><id value="&${name};"/></Basic>`));
        expect(inAttribute.status).toBe(400);
        expect(inAttribute.message).toContain(`undefined entity &${name};`);
        const narrative = `<Basic xmlns="http://hl7.org/fhir"><text><status value="generated"/>
          <div xmlns="http://www.w3.org/1999/xhtml">a &${name}; b</div></text></Basic>`;
        expect(refusal(xml(narrative)).message).toContain(`undefined entity &${name};`);
      },
    );

    it.each(['&#0;', '&#xD800;', '&#x110000;', '&#99999999999999999999;', '&#xFFFE;', '&#x;', '&#-1;'])(
      'a character reference to no legal XML character: %s',
      (reference) => {
        const error = refusal(xml(`<Basic xmlns="http://hl7.org/fhir"><id value="${reference}"/></Basic>`));
        expect(error.status).toBe(400);
        expect(error.issues[0]?.code).toBe('structure');
      },
    );

    it.each([
      ['plain attributes', (k: number) => `a${k}="x"`],
      ['namespace declarations', (k: number) => `xmlns:p${k}="urn:p${k}"`],
    ])(`an element with more than ${MAX_XML_ATTRIBUTES} %s, quickly`, (_label, attribute) => {
      const attributes = Array.from({ length: 200_000 }, (_, k) => attribute(k)).join(' ');
      const body = xml(`<Basic xmlns="http://hl7.org/fhir" ${attributes}/>`);
      const started = performance.now();
      const error = refusal(body);
      expect(performance.now() - started).toBeLessThan(200);
      expect(error.status).toBe(400);
      expect(error.message).toContain(`more than ${MAX_XML_ATTRIBUTES} attributes`);
    });

    it(`a document of more than ${MAX_XML_ELEMENTS} elements with 413, quickly`, () => {
      const body = xml(`<Basic xmlns="http://hl7.org/fhir"><code>${'<a/>'.repeat(MAX_XML_ELEMENTS)}</code></Basic>`);
      const started = performance.now();
      const error = refusal(body);
      // refused as it counts, not after building the tree; the bound only tells seconds from minutes under load
      expect(performance.now() - started).toBeLessThan(5000);
      expect(error.status).toBe(413);
      expect(error.message).toContain(`more than ${MAX_XML_ELEMENTS} elements`);
    });

    it('10 000 levels of nesting, quickly and without overflowing the stack', () => {
      const deep = `<Basic xmlns="http://hl7.org/fhir">${'<code>'.repeat(10_000)}${'</code>'.repeat(10_000)}</Basic>`;
      const started = performance.now();
      const error = refusal(xml(deep));
      expect(performance.now() - started).toBeLessThan(100);
      expect(error.message).toContain('deeper than 128');
    });

    it.each([
      ['boolean', '<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>', 'Patient.active'],
      [
        'integer',
        '<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="2.5"/></Patient>',
        'Patient.multipleBirthInteger',
      ],
      [
        'decimal',
        '<Observation xmlns="http://hl7.org/fhir"><valueQuantity><value value="1,5"/></valueQuantity></Observation>',
        'Quantity.value',
      ],
    ])('a %s value that is not one', (_label, body, path) => {
      const error = refusal(xml(body));
      expect(error.issues[0]?.code).toBe('value');
      expect(error.message).toContain(path);
    });

    it('a resource wrapper holding two resources', () => {
      const body =
        '<Bundle xmlns="http://hl7.org/fhir"><entry><resource><Patient/><Patient/></resource></entry></Bundle>';
      expect(refusal(xml(body)).message).toContain('exactly one resource');
    });

    it('a primitive element with a child other than extension', () => {
      const body = '<Patient xmlns="http://hl7.org/fhir"><gender value="male"><coding/></gender></Patient>';
      expect(refusal(xml(body)).message).toContain('may only contain extension');
    });
  });
});
