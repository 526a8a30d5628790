import { escapeHtml, html, trusted } from './html.js';

describe('html templates', () => {
  it('escapes every interpolated value, in text and in quoted attributes', () => {
    const name = `<img src=x onerror="alert(1)">'&\``;
    const page = html`<p title="${name}">${name}</p>`;
    expect(page.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;&#96;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;&#96;</p>',
    );
  });

  it('nests templates and lists without escaping them twice, and leaves out null, undefined and false', () => {
    const items = ['a<b', 'c'].map((item) => html`<li>${item}</li>`);
    // prettier-ignore
    const list = html`<ul>${items}${null}${undefined}${false}${0}</ul>`;
    expect(list.value).toBe('<ul><li>a&lt;b</li><li>c</li>0</ul>');
  });

  it('places trusted markup as it is', () => {
    expect(html`<div>${trusted('<p>ok</p>')}</div>`.value).toBe('<div><p>ok</p></div>');
    expect(escapeHtml('"')).toBe('&quot;');
  });
});
