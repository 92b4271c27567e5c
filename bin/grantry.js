#!/usr/bin/env node
'use strict';
/**
 * The `grantry` command (`npx grantry ...` in a checkout, `grantry ...` in the image): Grantry's CLI, as built in
 * dist/. In a checkout whose sources changed since the last build it builds first, with the compiler's output on
 * stderr, so stdout holds nothing but the command's result (`npx grantry user create --username dave --json | jq`).
 * The image has no sources and no compiler: it runs dist/ as it is.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const buildConfig = path.join(root, 'tsconfig.build.json');
const stamp = path.join(root, 'dist', '.grantry-built');
const SOURCES = ['src', 'migrations', 'ormconfig.ts', 'tsconfig.json', 'tsconfig.build.json'];

function fail(message) {
  process.stderr.write(`grantry: ${message}\n`);
  process.exit(2);
}

/** The newest modification time among the TypeScript sources the build reads (0 when there are none). */
function newestSource() {
  let newest = 0;
  const visit = (file) => {
    let stat;
    try {
      stat = fs.lstatSync(file);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(file)) visit(path.join(file, name));
    } else if (stat.isFile() && !file.endsWith('.spec.ts')) {
      // (Unit specs are not part of the build.)
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const name of SOURCES) visit(path.join(root, name));
  return newest;
}

/** When dist/ was last brought up to date: -1 without a build. */
function builtAt() {
  if (!fs.existsSync(entry)) return -1;
  // The build is incremental and rewrites only what changed, so the entry point may be older than the build: its
  // build-info file (rewritten by every build that changed anything) and our stamp (written after every build this
  // launcher ran, changed or not) say when it last ran.
  let newest = -1;
  for (const file of [entry, path.join(root, 'dist', '.tsbuildinfo.build'), stamp]) {
    try {
      newest = Math.max(newest, fs.statSync(file).mtimeMs);
    } catch {
      // absent
    }
  }
  return newest;
}

function buildIfStale() {
  if (!fs.existsSync(buildConfig)) {
    // An installed image: dist/ is all there is.
    if (builtAt() < 0) fail(`${entry} is missing; this installation is incomplete`);
    return;
  }
  if (builtAt() >= newestSource()) return;
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch {
    fail('the sources changed since the last build and TypeScript is not installed; run "npm install" first');
  }
  process.stderr.write('grantry: building (the sources changed since the last build)...\n');
  const result = spawnSync(process.execPath, [tsc, '-p', buildConfig], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (result.status !== 0) fail('the build failed (see above); fix it or run "npm run build" to see why');
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

buildIfStale();
require(entry)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
