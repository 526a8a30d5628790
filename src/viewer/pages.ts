import { formatNhsNumber, statusLabel } from './display.js';
import type { DeliveryView } from './deliveries.js';
import type { DocumentView, SectionView } from './document-view.js';
import { Html, html, type Interpolated, trusted } from './html.js';
import type { ViewerState } from './viewer-request.js';
import { CSRF_FIELD } from './viewer-session.js';
import type { AttachmentView, DocumentList, DocumentPage, HistoryPage, ListRow } from './viewer.service.js';
import { STYLESHEET_PATH, SCRIPT_PATH } from './viewer-assets.js';

const APP_NAME = 'Clinical documents';

/** The NHS number input's check as typed, without script: three groups of digits, spaces optional. */
export const NHS_NUMBER_PATTERN = '\\d{3} ?\\d{3} ?\\d{4}';

const csrfField = (state: ViewerState | undefined): Html =>
  state ? html`<input type="hidden" name="${CSRF_FIELD}" value="${state.csrfToken}" />` : html``;

/** The frame of every page: header with the signed-in user and sign-out, then the content. */
export function layout(state: ViewerState | undefined, title: string, body: Html): Html {
  const session = state?.session;
  return html`<!doctype html>
    <html lang="en-GB">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} - ${APP_NAME}</title>
        <link rel="stylesheet" href="${STYLESHEET_PATH}" />
        <script src="${SCRIPT_PATH}" defer></script>
      </head>
      <body>
        <header class="app-header">
          <a class="app-name" href="/app">${APP_NAME}</a>
          ${
            session
              ? html`<div class="app-user">
                  <span class="user-name">${session.name}</span> <span class="user-org">${session.org}</span>
                  <form method="post" action="/app/sign-out" class="sign-out">
                    ${csrfField(state)}<button type="submit" class="link-button">Sign out</button>
                  </form>
                </div>`
              : ''
          }
        </header>
        <main id="main">${body}</main>
      </body>
    </html> `;
}

export interface SignInForm {
  local: boolean;
  oidc: boolean;
  next: string;
  error?: string;
  notice?: string;
  values?: { practitioner?: string; name?: string; organization?: string };
}

export function signInPage(state: ViewerState | undefined, form: SignInForm): Html {
  const values = form.values ?? {};
  return layout(
    state,
    'Sign in',
    html`<h1>Sign in</h1>
      ${form.notice ? html`<p class="notice" role="status">${form.notice}</p>` : ''}
      ${form.error ? html`<p class="error-message" role="alert">${form.error}</p>` : ''}
      ${
        form.oidc
          ? html`<p>
              <a class="button" id="oidc-sign-in" href="/app/sign-in/oidc?next=${encodeURIComponent(form.next)}"
                >Sign in with your organisation account</a
              >
            </p>`
          : ''
      }
      ${
        form.local
          ? html`<form method="post" action="/app/sign-in" class="sign-in" novalidate>
              ${csrfField(state)}
              <input type="hidden" name="next" value="${form.next}" />
              <p class="hint">
                This server issues its own sessions (the local issuer): choose who you act as. Use it for development
                and testing only.
              </p>
              <label for="practitioner">Practitioner identifier</label>
              <span class="hint" id="practitioner-hint">For example an SDS user id</span>
              <input
                id="practitioner"
                name="practitioner"
                required
                maxlength="64"
                pattern="[A-Za-z0-9._@\\-]{1,64}"
                aria-describedby="practitioner-hint"
                value="${values.practitioner ?? ''}"
              />
              <label for="name">Name</label>
              <input id="name" name="name" maxlength="100" autocomplete="name" value="${values.name ?? ''}" />
              <label for="organization">Organisation ODS code</label>
              <input
                id="organization"
                name="organization"
                required
                maxlength="10"
                pattern="[A-Za-z0-9]{3,10}"
                value="${values.organization ?? ''}"
              />
              <button type="submit" class="button">Sign in</button>
            </form>`
          : ''
      }
      ${!form.local && !form.oidc ? html`<p>No way to sign in is configured: set OIDC_ISSUER, or run with the local issuer.</p>` : ''}`,
  );
}

function nhsForm(typed: string | undefined, error: string | undefined): Html {
  return html`<form method="get" action="/app/documents" class="search" role="search">
    <label for="nhs">NHS number</label>
    <span class="hint" id="nhs-hint">10 digits, for example 943 476 5919</span>
    ${error ? html`<p class="error-message" id="nhs-error" role="alert">${error}</p>` : ''}
    <input
      id="nhs"
      name="nhs"
      inputmode="numeric"
      autocomplete="off"
      required
      pattern="${NHS_NUMBER_PATTERN}"
      title="10 digits, for example 943 476 5919"
      aria-describedby="nhs-hint${error ? ' nhs-error' : ''}"
      class="nhs-input${error ? ' invalid' : ''}"
      value="${typed ?? ''}"
    />
    <button type="submit" class="button">Find documents</button>
  </form>`;
}

function statusTag(row: { id: string; status: string; replacedBy?: string }): Html {
  if (row.status === 'current') {
    return html`<span class="tag tag-current">${statusLabel(row.status)}</span>`;
  }
  const tag = html`<span class="tag tag-${row.status === 'superseded' ? 'superseded' : 'withdrawn'}"
    >${statusLabel(row.status)}</span
  >`;
  return row.replacedBy
    ? html`${tag} <a class="replacement" href="/app/documents/${row.replacedBy}">see the replacement</a>`
    : tag;
}

function listRow(row: ListRow): Html {
  return html`<tr class="document-row status-${row.status}" data-id="${row.id}">
    <td class="date">${row.date}</td>
    <td class="type">${row.type}</td>
    <td class="title"><a href="/app/documents/${row.id}">${row.title}</a></td>
    <td class="author">${row.author}</td>
    <td class="custodian">${row.custodian}</td>
    <td class="status">${statusTag(row)}</td>
  </tr>`;
}

export interface SearchView {
  typed?: string;
  error?: string;
  list?: DocumentList;
  /** Position of the first row, for "11 to 20 of 34". */
  start: number;
  pageSize: number;
}

export function searchPage(state: ViewerState | undefined, view: SearchView): Html {
  const list = view.list;
  let results: Interpolated = '';
  if (list) {
    const query = (extra: Record<string, string>) =>
      `/app/documents?${new URLSearchParams({ nhs: list.nhsNumber, ...extra }).toString()}`;
    const first = list.rows.length > 0 ? view.start + 1 : 0;
    const last = view.start + list.rows.length;
    const previousStart = String(Math.max(0, view.start - view.pageSize));
    results = html`<section class="results" aria-labelledby="results-heading">
      <h2 id="results-heading">
        Documents for <span class="patient-name">${list.patientName ?? ''}</span> NHS number
        <span class="nhs-number">${formatNhsNumber(list.nhsNumber)}</span>
      </h2>
      ${
        list.rows.length === 0
          ? html`<p class="empty">No documents are registered for this NHS number.</p>`
          : html`<p class="count">
                Showing ${first} to ${last}${list.total !== undefined ? html` of ${list.total}` : ''}, newest first
              </p>
              <table class="documents">
                <thead>
                  <tr>
                    <th scope="col">Date</th>
                    <th scope="col">Type</th>
                    <th scope="col">Title</th>
                    <th scope="col">Author</th>
                    <th scope="col">Custodian</th>
                    <th scope="col">Status</th>
                  </tr>
                </thead>
                <tbody>
                  ${list.rows.map(listRow)}
                </tbody>
              </table>`
      }
      <nav class="paging" aria-label="Pages">
        ${list.previous ? html`<a rel="prev" class="previous" href="${query({ cursor: list.previous, start: previousStart })}">Previous</a>` : ''}
        ${list.next ? html`<a rel="next" class="next" href="${query({ cursor: list.next, start: String(last) })}">Next</a>` : ''}
      </nav>
    </section>`;
  }
  return layout(
    state,
    list ? `Documents for ${formatNhsNumber(list.nhsNumber)}` : 'Find documents',
    html`<h1>Find a patient's documents</h1>
      ${nhsForm(view.typed, view.error)} ${results}`,
  );
}

function banner(page: DocumentPage): Html {
  const patient = page.document?.patient;
  const name = patient?.name || page.subjectDisplay || '';
  const nhs = patient?.nhsNumber ?? page.nhsNumber;
  return html`<section class="patient-banner" aria-label="Patient">
    <span class="banner-name">${name || 'Name not recorded'}</span>
    <span class="banner-item"
      >NHS number <strong class="banner-nhs">${nhs ? formatNhsNumber(nhs) : 'not known'}</strong></span
    >
    ${patient?.birthDate ? html`<span class="banner-item">Born <strong class="banner-dob">${patient.birthDate}</strong></span>` : ''}
    ${patient?.gender ? html`<span class="banner-item">Gender <strong class="banner-gender">${patient.gender}</strong></span>` : ''}
  </section>`;
}

function statusWarning(page: { status: string; replacedBy?: string }): Html {
  if (page.status === 'current') {
    return html``;
  }
  const replacement = page.replacedBy
    ? html` <a class="replacement" href="/app/documents/${page.replacedBy}">Open the document that replaces it</a>.`
    : '';
  const what =
    page.status === 'superseded'
      ? 'This document has been replaced by a newer version.'
      : page.status === 'entered-in-error'
        ? 'This document was withdrawn: it was entered in error. Do not rely on it.'
        : `This document's status is ${page.status}.`;
  return html`<div class="warning" role="alert">
    <strong>${statusLabel(page.status)}.</strong> ${what}${replacement}
  </div>`;
}

function section(view: SectionView, depth: number): Html {
  const level = Math.min(2 + depth, 6);
  const heading = trusted(`<h${level} class="section-title">`);
  const close = trusted(`</h${level}>`);
  return html`<section class="doc-section depth-${depth}">
    ${heading}${view.title}${close}
    ${view.narrative ? html`<div class="narrative">${trusted(view.narrative)}</div>` : ''}
    ${view.emptyReason ? html`<p class="empty-reason">Nothing recorded: ${view.emptyReason}</p>` : ''}
    ${view.sections.map((child) => section(child, depth + 1))}
  </section>`;
}

function documentBody(document: DocumentView): Html {
  const row = (label: string, value: Interpolated) =>
    value === '' || value === undefined
      ? ''
      : html`<div class="meta-row">
          <dt>${label}</dt>
          <dd>${value}</dd>
        </div>`;
  return html`<dl class="document-meta">
      ${row('Type', document.type)} ${row('Date', document.date)} ${row('Author', document.authors.join(', '))}
      ${
        document.attesters.length > 0
          ? row(
              'Attested by',
              html`<ul class="attesters">
                ${document.attesters.map(
                  (a) =>
                    html`<li class="attester">
                      ${a.party}${a.mode ? html` (${a.mode})` : ''}${a.time ? html`, ${a.time}` : ''}
                    </li>`,
                )}
              </ul>`,
            )
          : ''
      }
      ${row('Custodian', document.custodian)} ${row('Document status', document.status)}
      ${row('Confidentiality', document.confidentiality)}
    </dl>
    ${
      document.patientNarrative
        ? html`<details class="patient-narrative">
            <summary>Patient details as recorded in the document</summary>
            <div class="narrative">${trusted(document.patientNarrative)}</div>
          </details>`
        : ''
    }
    ${document.compositionNarrative ? html`<div class="narrative composition-narrative">${trusted(document.compositionNarrative)}</div>` : ''}
    <div class="sections">${document.sections.map((s) => section(s, 0))}</div>`;
}

function attachment(page: DocumentPage, item: AttachmentView): Html {
  const src = `/app/documents/${page.id}/attachments/${item.index}`;
  const size = item.size !== undefined ? `, ${Math.max(1, Math.round(item.size / 1024))} KB` : '';
  const download = html`<a class="download" href="${src}?download=1"
    >Download ${item.title} (${item.contentType}${size})</a
  >`;
  switch (item.display) {
    case 'pdf':
      return html`<figure class="attachment">
        <iframe class="attachment-pdf" src="${src}" title="${item.title}"></iframe>
        <figcaption>${download}</figcaption>
      </figure>`;
    case 'image':
      return html`<figure class="attachment">
        <img class="attachment-image" src="${src}" alt="${item.title}" />
        <figcaption>${download}</figcaption>
      </figure>`;
    case 'download':
      return html`<p class="attachment">${download}</p>`;
    case 'external':
      return item.url
        ? html`<p class="attachment">
            <a class="external" href="${item.url}" target="_blank" rel="noopener noreferrer"
              >Open ${item.title} where it is held</a
            >
          </p>`
        : html`<p class="attachment">${item.title} is held elsewhere.</p>`;
  }
}

export function documentPage(state: ViewerState | undefined, page: DocumentPage): Html {
  const back = page.nhsNumber ? `/app/documents?nhs=${page.nhsNumber}` : '/app';
  return layout(
    state,
    page.title,
    html`${banner(page)}
      <nav class="document-links">
        <a href="${back}">All documents for this patient</a>
        <a class="history-link" href="/app/documents/${page.id}/history">History</a>
        ${page.document ? html`<a class="original-link" href="/app/documents/${page.id}/original">Download the original</a>` : ''}
      </nav>
      ${statusWarning(page)}
      <article class="document">
        <h1 class="document-title">${page.title}</h1>
        ${page.document ? documentBody(page.document) : page.attachments.map((a) => attachment(page, a))}
      </article>
      ${page.deliveries.length > 0 ? deliveries(page.deliveries) : ''}`,
  );
}

/** Where the document's delivery to each recipient stands (its Tasks), with the recipient's reason if it said no. */
function deliveries(views: DeliveryView[]): Html {
  return html`<section class="deliveries" aria-labelledby="deliveries-heading">
    <h2 id="deliveries-heading">Delivery to recipients</h2>
    <table class="delivery-table">
      <thead>
        <tr>
          <th scope="col">Recipient</th>
          <th scope="col">Status</th>
          <th scope="col">Since</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        ${views.map(
          (view) =>
            html`<tr class="delivery delivery-${view.status}">
              <td class="delivery-recipient">${view.recipient}</td>
              <td class="delivery-status">
                <span class="delivery-label">${view.label}</span>
                <ol class="delivery-steps">
                  ${view.steps.map((step) => html`<li>${step.label}, ${step.when}</li>`)}
                </ol>
              </td>
              <td class="delivery-when">${view.when}</td>
              <td class="delivery-reason">${view.reason ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

export function historyPage(state: ViewerState | undefined, page: HistoryPage): Html {
  return layout(
    state,
    `History of ${page.title}`,
    html`<nav class="document-links"><a href="/app/documents/${page.id}">Back to the document</a></nav>
      <h1>History of ${page.title}</h1>
      <h2>Replacement chain</h2>
      <ol class="chain">
        ${page.chain.map(
          (link) =>
            html`<li class="chain-link${link.id === page.id ? ' this-document' : ''}">
              <a href="/app/documents/${link.id}">${link.title}</a> ${link.date}
              ${statusTag({ id: link.id, status: link.status })}${link.id === page.id ? html` <strong>(this document)</strong>` : ''}
            </li>`,
        )}
      </ol>
      <h2>Versions of this entry</h2>
      <table class="versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Recorded</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          ${page.versions.map(
            (v) =>
              html`<tr>
                <td>${v.versionId}</td>
                <td>${v.lastUpdated}</td>
                <td>${statusLabel(v.status)}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
  );
}

export function errorPage(state: ViewerState | undefined, status: number, message: string): Html {
  const title =
    status === 404
      ? 'Not found'
      : status === 403
        ? 'Not allowed'
        : status >= 500
          ? 'Something went wrong'
          : 'Cannot do that';
  return layout(
    state,
    title,
    html`<h1>${title}</h1>
      <p class="error-message" role="alert">${message}</p>
      <p><a href="/app">Find a patient's documents</a></p>`,
  );
}
