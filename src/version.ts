/** The package's version, read at run time from package.json (one folder up from src/ and from a built dist/ alike). */
import { readFileSync } from 'node:fs';

/** The version in package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
