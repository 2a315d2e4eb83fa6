'use strict';

// The TypeScript definitions compile against a program that uses the API.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { test } = require('node:test');

test('index.d.ts type-checks a program using the API', () => {
  const tsc = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  const project = path.join(__dirname, 'types', 'tsconfig.json');
  const run = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', timeout: 120000 });
  assert.equal(run.error, undefined, `run npm ci in bindings/node first: ${run.error}`);
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
