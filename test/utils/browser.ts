import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium (installed by .ci/run); tests never download a browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** One headless chromium for a suite (sandboxing needs privileges a CI container lacks). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** Where a suite's screenshots go: test-results/<suite>/ (git-ignored), kept after the run for people to look at. */
export async function screenshotDir(suite: string): Promise<string> {
  const directory = path.join(process.cwd(), 'test-results', suite);
  await mkdir(directory, { recursive: true });
  return directory;
}
