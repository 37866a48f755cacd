#!/usr/bin/env node
// Launcher: runs the built CLI (dist/daemon/, a bundle), which `npm run build` makes from src/.
import { existsSync } from 'node:fs';

const main = new URL('../dist/daemon/hoody.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(`hoody: "${main.pathname}" is missing: run \`npm run build\` in "${new URL('..', import.meta.url).pathname}" first\n`);
  process.exit(1);
}
await import(main.href);
