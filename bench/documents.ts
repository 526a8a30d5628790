import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aDischargeSummaryR4 } from '../test/fixtures/documents.js';

/** One kind of submitted document: how to make the i-th body and how to send it. */
export interface DocumentKind {
  /** e.g. `r4-json-40k` */
  readonly name: string;
  readonly contentType: string;
  /** ODS code of the custodian: the token's organisation must match it. */
  readonly custodianOds: string;
  /** Size of every body in bytes (within a few bytes: identifiers have fixed width). */
  readonly bytes: number;
  body(i: number): Buffer;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const IDENTIFIER_PLACEHOLDER = '00000000-0000-4000-8000-000000000000';
const NHS_PLACEHOLDER = '9999999999';

/** A valid NHS number (modulus 11) for each seed; distinct seeds below 10^8 give distinct numbers. */
export function nhsNumber(seed: number): string {
  for (let n = seed; ; n += 1) {
    const body = String(900000000 + (n % 99999999)).padStart(9, '0');
    const sum = [...body].reduce((total, digit, i) => total + Number(digit) * (10 - i), 0);
    const check = 11 - (sum % 11);
    if (check !== 10) {
      return `${body}${check === 11 ? 0 : check}`;
    }
  }
}

/** A fixed-width identifier per run and document, so every body of a kind has the same size. */
function identifierValue(run: string, i: number): string {
  return `${run.slice(0, 8)}-${String(i).padStart(4, '0').slice(-4)}-4${String(Math.floor(i / 1e4))
    .padStart(3, '0')
    .slice(-3)}-8000-${String(i).padStart(12, '0')}`;
}

// Clinical narrative of the kind eDischarge sections carry; repeated with varying numbers to reach a size.
const MEDICINES = [
  ['Amoxicillin', '500 mg capsules', 'One capsule three times a day', 'Continue for 5 more days then stop'],
  ['Bisoprolol fumarate', '2.5 mg tablets', 'One tablet once a day in the morning', 'Continue: new'],
  ['Atorvastatin', '20 mg tablets', 'One tablet at night', 'Continue: unchanged'],
  ['Lansoprazole', '30 mg gastro-resistant capsules', 'One capsule once a day', 'Continue: dose reduced'],
  ['Paracetamol', '500 mg tablets', 'Two tablets up to four times a day when required', 'Continue'],
  ['Furosemide', '40 mg tablets', 'One tablet in the morning', 'Stopped: acute kidney injury'],
];
const OBSERVATIONS = [
  'Temperature 37.8 C, pulse 96, blood pressure 128/76 mmHg, respiratory rate 22, SpO2 94% on air.',
  'CRP 148 mg/L on admission falling to 31 mg/L; white cell count 14.2 falling to 8.9 x10^9/L.',
  'Chest X-ray: right lower lobe consolidation, no effusion. Repeat film advised in six weeks.',
  'Creatinine 132 umol/L on admission (baseline 88), 95 umol/L at discharge after intravenous fluids.',
  'Seen by the physiotherapy team: mobilising independently with a stick, stairs assessed and safe.',
  'Patient and daughter informed of the diagnosis and plan; leaflet on pneumonia recovery given.',
];

function narrativeBlock(n: number): string {
  const rows = MEDICINES.map(
    ([name, form, dose, status], i) =>
      `<tr><td>${name}</td><td>${form}</td><td>${dose}</td><td>${status} (review ${1 + ((n + i) % 28)} days)</td></tr>`,
  ).join('');
  const notes = OBSERVATIONS.map((o, i) => `<li>Day ${1 + ((n + i) % 9)}: ${o}</li>`).join('');
  return (
    `<p>Progress note ${n + 1}.</p><ul>${notes}</ul>` +
    `<table><thead><tr><th>Medicine</th><th>Form</th><th>Dose</th><th>Status</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

const SECTION_CODES: [string, string][] = [
  ['1102421000000108', 'Medications and medical devices'],
  ['1066901000000108', 'Clinical summary'],
  ['1102871000000108', 'Investigation results'],
  ['887171000000109', 'Procedures'],
  ['1102911000000104', 'Information given'],
];

/** R4 discharge summary (aDischargeSummaryR4) padded with narrative sections to about `bytes` of JSON. */
export function r4JsonKind(bytes: number, run: string): DocumentKind {
  const bundle = aDischargeSummaryR4({
    identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: IDENTIFIER_PLACEHOLDER },
    nhsNumber: NHS_PLACEHOLDER,
  }) as unknown as { entry: { resource: { resourceType: string; section?: unknown[] } }[] };
  const composition = bundle.entry[0].resource;
  const sections = composition.section!;
  for (let n = 0; JSON.stringify(bundle).length < bytes; n += 1) {
    const [code, display] = SECTION_CODES[n % SECTION_CODES.length];
    sections.push({
      title: display,
      code: { coding: [{ system: 'http://snomed.info/sct', code, display }] },
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${narrativeBlock(n)}</div>` },
    });
  }
  const template = JSON.stringify(bundle);
  return {
    name: `r4-json-${Math.round(bytes / 1000)}k`,
    contentType: 'application/fhir+json',
    custodianOds: 'RTG',
    bytes: Buffer.byteLength(template),
    body: (i) =>
      Buffer.from(
        template.replace(IDENTIFIER_PLACEHOLDER, identifierValue(run, i)).replace(NHS_PLACEHOLDER, nhsNumber(i)),
      ),
  };
}

/** The STU3 ITK3 eDischarge fixture (XML) with narrative sections added to about `bytes`. */
export function stu3XmlKind(bytes: number, run: string): DocumentKind {
  const fixture = readFileSync(path.join(ROOT, 'test', 'fixtures', 'stu3-edischarge.xml'), 'utf8')
    .replace('8e6f2a1c-4b3d-4f5e-9a7b-2c1d0e9f8a7b', IDENTIFIER_PLACEHOLDER)
    .replace('9657702070', NHS_PLACEHOLDER);
  const closing = '      </Composition>';
  const at = fixture.indexOf(closing);
  let padding = '';
  for (let n = 0; fixture.length + padding.length < bytes; n += 1) {
    const [code, display] = SECTION_CODES[n % SECTION_CODES.length];
    padding +=
      `        <section>\n          <title value="${display}"/>\n          <code>\n            <coding>\n` +
      `              <system value="http://snomed.info/sct"/>\n              <code value="${code}"/>\n` +
      `              <display value="${display}"/>\n            </coding>\n          </code>\n          <text>\n` +
      `            <status value="generated"/>\n            <div xmlns="http://www.w3.org/1999/xhtml">${narrativeBlock(n)}</div>\n` +
      `          </text>\n        </section>\n`;
  }
  const template = fixture.slice(0, at) + padding + fixture.slice(at);
  return {
    name: `stu3-xml-${Math.round(bytes / 1000)}k`,
    contentType: 'application/fhir+xml',
    custodianOds: 'RX4',
    bytes: Buffer.byteLength(template),
    body: (i) =>
      Buffer.from(
        template.replace(IDENTIFIER_PLACEHOLDER, identifierValue(run, i)).replace(NHS_PLACEHOLDER, nhsNumber(i)),
      ),
  };
}

/** `count` distinct valid NHS numbers from `fromSeed` on (nhsNumber skips seeds whose check digit would be 10). */
export function distinctNhsNumbers(fromSeed: number, count: number): string[] {
  const numbers = new Set<string>();
  for (let seed = fromSeed; numbers.size < count; seed += 1) {
    numbers.add(nhsNumber(seed));
  }
  return [...numbers];
}
