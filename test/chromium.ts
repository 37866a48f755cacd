/** The headless Chromium the page tests drive: one page that records what it requested and every error it showed. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Why a page test cannot run here, or undefined when it can. */
export const noChromium = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`;

export interface BrowserPage {
  browser: Browser;
  page: Page;
  /** Every URL the page requested. */
  requested: string[];
  /** Uncaught errors and console errors of the page. */
  errors: string[];
}

/** Launches Chromium (headless, offline-minded) with one page of the given size. */
export async function openPage(viewport: { width: number; height: number }): Promise<BrowserPage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(30_000);
  const requested: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return { browser, page, requested, errors };
}
