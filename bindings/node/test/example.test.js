'use strict';

// The Node example script runs the sample job in a fresh working folder.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { test } = require('node:test');

const { REPO_ROOT, tempFolder } = require('./helpers');

test('examples/node/cm3.js evaluates the sample job and prints the pass ratio', () => {
  const script = path.join(REPO_ROOT, 'examples', 'node', 'cm3.js');
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('POLYSTAT_')) {
      delete env[name];
    }
  }
  const run = spawnSync(process.execPath, [script], { cwd: tempFolder(), env, encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.evaluations, 1);
  assert.deepEqual(summary.ratios, [{ control: 'cm-3', evidences: 3, passing: 1, passRatio: 1 / 3 }]);
});
