/** The package's version, from package.json (a bundle of the daemon carries it inlined). */
import pkg from '../package.json' with { type: 'json' };

/** The version in package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = pkg.version;
