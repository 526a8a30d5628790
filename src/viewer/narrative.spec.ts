import { sanitiseNarrative } from './narrative.js';

const div = (inner: string) => `<div xmlns="http://www.w3.org/1999/xhtml">${inner}</div>`;

describe('sanitiseNarrative', () => {
  it('keeps the formatting FHIR narrative allows: headings, lists, tables, emphasis', () => {
    const source = div(
      '<h3>Plan</h3><p>Take <b>one</b> tablet <em>daily</em>.</p><ul><li>a</li></ul>' +
        '<table border="1"><thead><tr><th scope="col">Drug</th></tr></thead><tbody><tr><td colspan="2">x</td></tr></tbody></table>',
    );
    expect(sanitiseNarrative(source)).toBe(
      '<div><h3>Plan</h3><p>Take <b>one</b> tablet <em>daily</em>.</p><ul><li>a</li></ul>' +
        '<table border="1"><thead><tr><th scope="col">Drug</th></tr></thead><tbody><tr><td colspan="2">x</td></tr></tbody></table></div>',
    );
  });

  it('drops scripts with their code, event handlers, and javascript: links', () => {
    const out = sanitiseNarrative(
      div(
        '<p>Before</p><script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"/>' +
          '<a href="javascript:window.pwned = 3">click</a><a href=" JaVaScRiPt:alert(1)">again</a>' +
          '<a href="java&#x09;script:alert(1)">tab</a><p onclick="x()" onmouseover="y()">After</p>',
      ),
    );
    expect(out).not.toMatch(/script|onerror|onclick|onmouseover|pwned|alert|<img/i);
    expect(out).toContain('<p>Before</p>');
    expect(out).toContain('<a>click</a>');
    expect(out).toContain('<p>After</p>');
  });

  it('drops forms, frames, objects, embedded documents and style sheets', () => {
    const out = sanitiseNarrative(
      div(
        '<form action="https://evil.example/"><input name="q"/><button>Go</button><textarea>t</textarea></form>' +
          '<iframe src="https://evil.example/"></iframe><object data="x.swf"></object><embed src="x"/>' +
          '<style>body { display: none }</style><link rel="stylesheet" href="https://evil.example/x.css"/>' +
          '<base href="https://evil.example/"/><svg><script>1</script></svg><math></math><meta http-equiv="refresh" content="0"/>',
      ),
    );
    expect(out).toBe('<div>Go</div>');
  });

  it('allows http(s), mailto and in-page links, opening outside links apart from the page', () => {
    const out = sanitiseNarrative(
      div(
        '<a href="https://www.nhs.uk/conditions/">NHS</a><a href="mailto:gp@example.nhs.uk">mail</a>' +
          '<a href="#meds">meds</a><a name="meds">here</a><a href="//evil.example/">relative</a>' +
          '<a href="data:text/html,x">data</a><a href="ftp://x">ftp</a>',
      ),
    );
    expect(out).toContain('<a href="https://www.nhs.uk/conditions/" target="_blank" rel="noopener noreferrer">NHS</a>');
    expect(out).toContain('<a href="mailto:gp@example.nhs.uk" target="_blank" rel="noopener noreferrer">mail</a>');
    expect(out).toContain('<a href="#narrative-meds">meds</a>');
    expect(out).toContain('<a name="narrative-meds">here</a>');
    expect(out).not.toMatch(/evil|data:|ftp:/);
  });

  it('keeps only inline raster images', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const out = sanitiseNarrative(
      div(
        `<img src="${png}" alt="chart"/><img src="https://tracker.example/pixel.gif"/>` +
          '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="/><img src="data:text/html;base64,PHNjcmlwdD4="/><img/>',
      ),
    );
    expect(out).toBe(`<div><img src="${png}" alt="chart" /></div>`);
  });

  it('keeps harmless inline styles and drops any that could load or place content', () => {
    const out = sanitiseNarrative(
      div(
        '<p style="color: red; font-weight: bold; background-image: url(https://evil.example/x); position: fixed">a</p>' +
          '<p style="border: 1px solid black; background: url(x)">b</p><p style="border: 1px solid url(x)">c</p>',
      ),
    );
    expect(out).toBe(
      '<div><p style="color:red;font-weight:bold">a</p><p style="border:1px solid black">b</p><p>c</p></div>',
    );
  });

  it('drops classes and prefixes ids, so a narrative can neither dress as nor target the page around it', () => {
    expect(sanitiseNarrative(div('<p class="banner" id="top">x</p>'))).toBe('<div><p id="narrative-top">x</p></div>');
  });

  it('reads XHTML as XML writes it: self-closed elements, CDATA and character references', () => {
    expect(sanitiseNarrative(div('<p>a<br/>b</p><span/><p><![CDATA[1 < 2]]> &#160;&amp;&lt;</p>'))).toBe(
      '<div><p>a<br />b</p><span></span><p>1 &lt; 2 \u00a0&amp;&lt;</p></div>',
    );
  });
});
