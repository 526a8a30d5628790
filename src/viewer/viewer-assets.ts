import { createHash } from 'node:crypto';

// The style sheet and script live here as strings, not as files beside the code: the build ships only compiled
// TypeScript (dist/), so a .css file would be missing from the image.

export const STYLESHEET_PATH = '/app/static/viewer.css';
export const SCRIPT_PATH = '/app/static/viewer.js';

export const STYLESHEET = `
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #212b32; background: #f0f4f5; }
a { color: #005eb8; }
a:visited { color: #330072; }
a:focus, button:focus, input:focus { outline: 3px solid #ffeb3b; outline-offset: 0; }
.app-header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 8px; padding: 12px 24px; background: #005eb8; color: #fff; }
.app-header a, .app-header .link-button { color: #fff; }
.app-name { font-weight: bold; font-size: 20px; text-decoration: none; }
.app-user { display: flex; align-items: center; gap: 12px; }
.user-org { padding: 0 6px; border: 1px solid #fff; border-radius: 3px; font-size: 14px; }
.sign-out { display: inline; margin: 0; }
.link-button { background: none; border: 0; padding: 0; font: inherit; text-decoration: underline; cursor: pointer; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; background: #fff; min-height: calc(100vh - 60px); }
h1 { font-size: 28px; margin: 0 0 16px; }
h2 { font-size: 22px; margin: 24px 0 8px; }
label { display: block; font-weight: bold; margin-top: 16px; }
.hint { display: block; color: #4c6272; }
input { display: block; font-size: 18px; padding: 6px 8px; border: 2px solid #4c6272; margin: 4px 0 12px; width: 100%; max-width: 20em; }
input.nhs-input { max-width: 10em; letter-spacing: 0.05em; }
input:invalid:not(:placeholder-shown):not(:focus), input.invalid { border-color: #d5281b; }
.button { display: inline-block; padding: 8px 16px; font-size: 18px; font-weight: bold; color: #fff; background: #007f3b; border: 0; border-bottom: 3px solid #00401e; cursor: pointer; text-decoration: none; }
a.button, a.button:visited { color: #fff; }
.error-message { color: #d5281b; font-weight: bold; border-left: 4px solid #d5281b; padding-left: 12px; }
.notice { border-left: 4px solid #005eb8; padding-left: 12px; }
.warning { margin: 16px 0; padding: 12px 16px; background: #fff9c4; border-left: 6px solid #ffb81c; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 8px; border-bottom: 1px solid #d8dde0; }
.documents tr.status-superseded td, .documents tr.status-entered-in-error td { color: #4c6272; }
.tag { display: inline-block; padding: 0 6px; font-size: 14px; font-weight: bold; border: 1px solid; border-radius: 3px; }
.tag-current { color: #007f3b; }
.tag-superseded { color: #7a4a00; background: #fff4d6; }
.tag-withdrawn { color: #fff; background: #d5281b; border-color: #d5281b; }
.paging { display: flex; gap: 24px; margin-top: 16px; }
.patient-banner { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; margin: -24px -24px 16px; padding: 12px 24px; background: #212b32; color: #fff; }
.banner-name { font-size: 22px; font-weight: bold; }
.document-links { display: flex; flex-wrap: wrap; gap: 24px; margin-bottom: 8px; }
.document-meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 16px; }
.meta-row { display: contents; }
.document-meta dt { font-weight: bold; }
.document-meta dd { margin: 0; }
.attesters { margin: 0; padding-left: 18px; }
.doc-section { margin-top: 16px; }
.doc-section .doc-section { margin-left: 16px; padding-left: 12px; border-left: 3px solid #d8dde0; }
.narrative { overflow-x: auto; contain: content; }
.narrative table { width: auto; }
.narrative th, .narrative td { border: 1px solid #d8dde0; }
.empty-reason { color: #4c6272; font-style: italic; }
figure { margin: 0 0 16px; }
.attachment-pdf { width: 100%; height: 80vh; border: 1px solid #d8dde0; }
.attachment-image { max-width: 100%; border: 1px solid #d8dde0; }
.this-document { font-weight: bold; }
.deliveries { margin-top: 32px; }
.delivery-steps { margin: 4px 0 0; padding-left: 18px; font-size: 14px; color: #4c6272; }
.delivery-rejected .delivery-label, .delivery-overdue .delivery-label { color: #d5281b; font-weight: bold; }
@media print { .app-header, .document-links, .search { display: none; } main { padding: 0; } }
`;

/**
 * Progressive enhancement only: everything works without it. Checks the NHS number's check digit as it is typed, so
 * the browser refuses a mistyped number before the form is sent (the server checks it again).
 */
export const SCRIPT = `'use strict';
(function () {
  function valid(digits) {
    if (!/^[0-9]{10}$/.test(digits)) { return false; }
    var sum = 0;
    for (var i = 0; i < 9; i++) { sum += Number(digits[i]) * (10 - i); }
    var check = 11 - (sum % 11);
    if (check === 11) { check = 0; }
    return check !== 10 && check === Number(digits[9]);
  }
  function check(input) {
    var digits = input.value.replace(/[\\s-]/g, '');
    input.setCustomValidity(digits.length === 10 && !valid(digits) ? 'This is not a valid NHS number: check for a mistyped digit' : '');
  }
  document.addEventListener('DOMContentLoaded', function () {
    var input = document.getElementById('nhs');
    if (!input) { return; }
    input.addEventListener('input', function () { check(input); });
    check(input);
  });
})();
`;

/** A strong ETag of an asset, so browsers revalidate cheaply. */
export function assetEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}
