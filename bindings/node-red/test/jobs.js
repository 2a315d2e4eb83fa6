'use strict';

// Prepares a store the way the example flow expects it: `polystat evaluate`
// runs the cm-3 job (POLYSTAT_TEST_DATA set) or the sample job (unset) and
// leaves the catalog, datasources and linker in the store.

const assert = require('assert');
const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const FLOW_FILE = path.join(REPO_ROOT, 'examples', 'node-red', 'cm3-flow.json');
const CM3_JOB = path.join(REPO_ROOT, 'examples', 'jobs', 'cm3-pull-request-review.json');
const SAMPLE_JOB = path.join(REPO_ROOT, 'examples', 'jobs', 'sample-pull-request-review.json');
const CLI = process.env.POLYSTAT_CLI || path.join(REPO_ROOT, 'target', 'debug', 'polystat');

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The job to run and its data folder. */
function chooseJob() {
  const realData = process.env.POLYSTAT_TEST_DATA;
  if (realData) {
    return { job: CM3_JOB, dataDir: path.resolve(realData), sample: false };
  }
  return { job: SAMPLE_JOB, dataDir: path.join(REPO_ROOT, 'examples', 'data'), sample: true };
}

/** Environment variables of an embedded store in `dir`. */
function storeEnv(dir) {
  const url = `sqlite://${path.join(dir, 'polystat.db')}`;
  return { POLYSTAT_RELATIONAL_URL: url, POLYSTAT_DOCUMENTS_URL: url, POLYSTAT_CACHE_URL: 'memory' };
}

/** Runs `polystat evaluate` with the store of `env` and returns its JSON summary. */
function runEvaluate(job, dataDir, env) {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing; build it with cargo build -p polystat-cli or set POLYSTAT_CLI`);
  }
  const output = childProcess.execFileSync(CLI, ['evaluate', job, '--data-dir', dataDir], {
    env: { ...process.env, ...env, POLYSTAT_LOG: 'warn' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(output);
}

function nodeOfType(flow, type) {
  const nodes = flow.filter((node) => node.type === type);
  assert.strictEqual(nodes.length, 1, `the example flow has ${nodes.length} ${type} nodes, expected 1`);
  return nodes[0];
}

/**
 * Reads the example flow with the linker, period and scope of `job`. For
 * the cm-3 job these are the values already in the file.
 */
function readFlowFor(job) {
  const flow = readJson(FLOW_FILE);
  const spec = readJson(job);
  const [control] = spec.controls;
  const linker = nodeOfType(flow, 'polystat-run-linker');
  const evaluate = nodeOfType(flow, 'polystat-evaluate');
  linker.linker = spec.linker.name;
  evaluate.periodFrom = control.period.from;
  evaluate.periodTo = control.period.to;
  evaluate.scope = JSON.stringify(control.scope);
  return flow;
}

module.exports = {
  REPO_ROOT,
  FLOW_FILE,
  CM3_JOB,
  readJson,
  chooseJob,
  storeEnv,
  runEvaluate,
  nodeOfType,
  readFlowFor,
};
