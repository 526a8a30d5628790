import sanitizeHtml from 'sanitize-html';

/**
 * The FHIR narrative allow-list (R4 narrative.html, txt-1): the basic formatting elements of HTML 4 chapters 7-11
 * (without ins/del) and 15, `a` (name or href) and `img`. No head, body, scripts, forms, styles sheets, frames, objects,
 * links or base. font/basefont/center are left out: nothing needs them, and fewer tags is less to reason about.
 */
const ALLOWED_TAGS = [
  // 7: global structure
  'div',
  'span',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'address',
  // 8: language
  'bdo',
  // 9: text
  'em',
  'strong',
  'dfn',
  'code',
  'samp',
  'kbd',
  'var',
  'cite',
  'abbr',
  'acronym',
  'blockquote',
  'q',
  'sub',
  'sup',
  'p',
  'br',
  'pre',
  // 10: lists
  'ul',
  'ol',
  'li',
  'dl',
  'dt',
  'dd',
  // 11: tables
  'table',
  'caption',
  'thead',
  'tfoot',
  'tbody',
  'colgroup',
  'col',
  'tr',
  'th',
  'td',
  // 15: font styles and rules
  'tt',
  'i',
  'b',
  'big',
  'small',
  'strike',
  's',
  'u',
  'hr',
  // links and images
  'a',
  'img',
];

const CELL = ['colspan', 'rowspan', 'headers', 'scope', 'abbr', 'align', 'valign', 'width'];

const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  '*': ['id', 'title', 'lang', 'dir', 'style'],
  a: ['href', 'name', 'target', 'rel'],
  img: ['src', 'alt', 'width', 'height'],
  table: ['border', 'cellpadding', 'cellspacing', 'summary', 'width', 'align'],
  col: ['span', 'width', 'align', 'valign'],
  colgroup: ['span', 'width', 'align', 'valign'],
  td: CELL,
  th: CELL,
  tr: ['align', 'valign'],
  thead: ['align', 'valign'],
  tbody: ['align', 'valign'],
  tfoot: ['align', 'valign'],
  ol: ['start', 'type'],
  ul: ['type'],
  li: ['value', 'type'],
  p: ['align'],
  div: ['align'],
  h1: ['align'],
  h2: ['align'],
  h3: ['align'],
  h4: ['align'],
  h5: ['align'],
  h6: ['align'],
};

// Style values that cannot load anything (no url(), no image-set(), no expressions): no parentheses at all, except
// rgb()/rgba() colours, which are checked as such.
const COLOUR = [/^#[0-9a-f]{3,8}$/i, /^[a-z]{3,20}$/i, /^rgba?\(\s*[\d.%\s,/]+\)$/i];
const LENGTH = [/^-?\d+(\.\d+)?(px|em|rem|%|pt|ex|ch)?$/i, /^auto$/i];
const PLAIN = [/^[a-z0-9#.%\s-]{1,100}$/i];
const STYLE: Record<string, RegExp[]> = {
  color: COLOUR,
  'background-color': COLOUR,
  'text-align': [/^(left|right|center|justify)$/i],
  'vertical-align': [/^(top|middle|bottom|baseline|sub|super|text-top|text-bottom)$/i],
  'font-weight': [/^(normal|bold|bolder|lighter|[1-9]00)$/i],
  'font-style': [/^(normal|italic|oblique)$/i],
  'font-size': [...LENGTH, /^(xx-small|x-small|small|medium|large|x-large|xx-large|smaller|larger)$/i],
  'font-family': [/^[a-z0-9\s,'"-]{1,100}$/i],
  'text-decoration': PLAIN,
  'white-space': [/^(normal|nowrap|pre|pre-wrap|pre-line)$/i],
  width: LENGTH,
  height: LENGTH,
  'min-width': LENGTH,
  'max-width': LENGTH,
  border: PLAIN,
  'border-top': PLAIN,
  'border-right': PLAIN,
  'border-bottom': PLAIN,
  'border-left': PLAIN,
  'border-collapse': [/^(collapse|separate)$/i],
  'border-color': COLOUR,
  'border-style': PLAIN,
  'border-width': PLAIN,
  padding: PLAIN,
  'padding-left': LENGTH,
  'padding-right': LENGTH,
  'padding-top': LENGTH,
  'padding-bottom': LENGTH,
  margin: PLAIN,
  'margin-left': LENGTH,
  'margin-right': LENGTH,
  'margin-top': LENGTH,
  'margin-bottom': LENGTH,
  'list-style-type': [/^[a-z-]{1,30}$/i],
};

/** Inline images only, and only raster formats (an SVG is a document of its own). */
const DATA_IMAGE = /^data:image\/(png|gif|jpeg|webp|bmp);base64,[A-Za-z0-9+/=\s]+$/i;

/** Narrative ids live in the page's id space: prefixed, so a narrative can neither reuse nor target the page's own. */
const ID_PREFIX = 'narrative-';

function prefixed(value: string): string {
  return `${ID_PREFIX}${value}`;
}

function withPrefixedIds(attribs: sanitizeHtml.Attributes): sanitizeHtml.Attributes {
  const out = { ...attribs };
  if (out.id) {
    out.id = prefixed(out.id);
  }
  return out;
}

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: ALLOWED_ATTRIBUTES,
  allowedClasses: {},
  allowedStyles: { '*': STYLE },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  // text of these is code or form content, never narrative
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'template', 'iframe', 'object', 'title'],
  enforceHtmlBoundary: false,
  parser: { lowerCaseTags: true, lowerCaseAttributeNames: true, recognizeSelfClosing: true, recognizeCDATA: true },
  transformTags: {
    '*': (tagName, attribs) => ({ tagName, attribs: withPrefixedIds(attribs) }),
    a: (tagName, attribs) => {
      const { href: _href, name, target: _target, rel: _rel, ...out } = attribs;
      if (name) {
        out.name = prefixed(name);
      }
      const href = (attribs.href ?? '').trim();
      if (href.startsWith('#')) {
        out.href = `#${prefixed(href.slice(1))}`;
      } else if (/^(https?:\/\/|mailto:)/i.test(href)) {
        // sanitize-html checks the scheme again; a link out never hands over this page
        out.href = href;
        out.target = '_blank';
        out.rel = 'noopener noreferrer';
      }
      return { tagName, attribs: out };
    },
    img: (tagName, attribs) => {
      const out = { ...attribs };
      if (!DATA_IMAGE.test(out.src ?? '')) {
        delete out.src;
      }
      return { tagName, attribs: out };
    },
  },
  // an image whose source was refused is dropped rather than left as a broken box
  exclusiveFilter: (frame) => frame.tag === 'img' && !frame.attribs.src,
};

/**
 * A narrative div (XHTML, as stored) reduced to the FHIR narrative allow-list, ready to place in a page: no scripts,
 * event handlers, forms, frames or styles sheets; links only http(s), mailto and in-page; images only inline data.
 * The stored document is never changed: this is what the viewer shows of it.
 */
export function sanitiseNarrative(div: string): string {
  return sanitizeHtml(div, OPTIONS);
}
