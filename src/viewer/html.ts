/** Markup that is already safe to put in a page: built by `html`, or sanitised narrative. */
export class Html {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text as HTML: safe in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** A value interpolated into a template: Html as is, arrays joined, nothing for null/undefined/false, else escaped text. */
export type Interpolated = Html | string | number | null | undefined | false | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) {
    return '';
  }
  if (value instanceof Html) {
    return value.value;
  }
  if (Array.isArray(value)) {
    return (value as readonly Interpolated[]).map(render).join('');
  }
  return escapeHtml(String(value));
}

/**
 * The only way pages are built: every interpolated value is escaped unless it is already Html, so a value can never
 * open a tag or leave an attribute. Attribute values must be quoted in the template.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + strings[i + 1];
  }
  return new Html(out);
}

/** Markup the caller vouches for (sanitised narrative); never for anything that came from a request or a document. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
