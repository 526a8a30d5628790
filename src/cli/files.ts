import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** How a file is sent: as a FHIR resource (sniffed first) or as the raw bytes of a Binary. */
export type FileKind = { kind: 'fhir'; format: 'json' | 'xml' } | { kind: 'binary'; contentType: string };

// The types a clinical document attachment usually has; anything else must be named by a known extension.
const BINARY_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.txt': 'text/plain',
  '.htm': 'text/html',
  '.html': 'text/html',
  '.rtf': 'text/rtf',
  '.csv': 'text/csv',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.odt': 'application/vnd.oasis.opendocument.text',
  '.dcm': 'application/dicom',
};

/** The kind of a file by its extension (case-insensitive), or undefined for an extension this tool does not know. */
export function kindByExtension(file: string): FileKind | undefined {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.json') {
    return { kind: 'fhir', format: 'json' };
  }
  if (extension === '.xml') {
    return { kind: 'fhir', format: 'xml' };
  }
  const contentType = BINARY_TYPES[extension];
  return contentType ? { kind: 'binary', contentType } : undefined;
}

export interface FoundFile {
  path: string;
  size: number;
  kind: FileKind | undefined;
}

export interface FoundFiles {
  /** Files named on the command line, and files of a known type found in folders, in path order. */
  files: FoundFile[];
  /** Files in folders left alone: hidden ones and ones of an unknown type. */
  skipped: string[];
}

/**
 * The files to submit: each file named, and every file under each folder named (recursively, symbolic links
 * followed once). A file named explicitly is kept whatever its type, so that an unknown type is reported rather
 * than silently passed over; in folders, hidden entries and unknown types are skipped. Throws ENOENT-style errors
 * for a path that does not exist.
 */
export async function findFiles(paths: readonly string[]): Promise<FoundFiles> {
  const files = new Map<string, FoundFile>();
  const skipped: string[] = [];
  const seenFolders = new Set<string>();

  async function walk(folder: string): Promise<void> {
    const real = await realpath(folder);
    if (seenFolders.has(real)) {
      return; // a link back up the tree
    }
    seenFolders.add(real);
    const entries = (await readdir(folder)).sort();
    for (const name of entries) {
      const full = path.join(folder, name);
      if (name.startsWith('.')) {
        skipped.push(full);
        continue;
      }
      let info;
      try {
        info = await stat(full);
      } catch {
        skipped.push(full); // a dangling link
        continue;
      }
      if (info.isDirectory()) {
        await walk(full);
      } else if (info.isFile()) {
        const kind = kindByExtension(full);
        if (kind) {
          files.set(full, { path: full, size: info.size, kind });
        } else {
          skipped.push(full);
        }
      }
    }
  }

  for (const given of paths) {
    const info = await stat(given);
    if (info.isDirectory()) {
      await walk(given);
    } else {
      files.set(given, { path: given, size: info.size, kind: kindByExtension(given) });
    }
  }
  return { files: [...files.values()].sort((a, b) => a.path.localeCompare(b.path)), skipped };
}

/** What a FHIR file holds, judged from its resourceType (JSON) or root element (XML) without validating it. */
export type Sniffed = { ok: true; resourceType: string } | { ok: false; reason: string };

function sniffJson(bytes: Buffer): Sniffed {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const resourceType = (parsed as { resourceType?: unknown } | null)?.resourceType;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof resourceType !== 'string') {
    return { ok: false, reason: 'not a FHIR resource: no resourceType' };
  }
  return { ok: true, resourceType };
}

// Prolog: XML declaration, comments, processing instructions and a doctype (the server refuses DTDs itself).
const XML_PROLOG = /^(?:\s+|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>)*/;
const XML_ROOT = /^<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?=[\s/>])([^>]*)>/;

function sniffXml(bytes: Buffer): Sniffed {
  // the root element is near the start; a prolog longer than this is not a FHIR file
  const head = bytes
    .subarray(0, 64 * 1024)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  const rest = head.slice(XML_PROLOG.exec(head)?.[0].length ?? 0);
  const root = XML_ROOT.exec(rest);
  if (!root) {
    return { ok: false, reason: 'not XML: no root element' };
  }
  if (!/\bxmlns(?::[\w.-]+)?\s*=\s*["']http:\/\/hl7\.org\/fhir["']/.test(root[2])) {
    return {
      ok: false,
      reason: `not FHIR XML: the root element <${root[1]}> is not in the http://hl7.org/fhir namespace`,
    };
  }
  return { ok: true, resourceType: root[1] };
}

/** Sniffs a .json or .xml file's resource type. */
export function sniffFhir(bytes: Buffer, format: 'json' | 'xml'): Sniffed {
  return format === 'json' ? sniffJson(bytes) : sniffXml(bytes);
}
