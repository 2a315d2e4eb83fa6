'use strict';

// Shared setup of the mocha suites: a Node-RED test runtime that reaches
// nothing remote, temporary SQLite stores and small waiting helpers.

const fs = require('fs');
const os = require('os');
const path = require('path');
const helper = require('node-red-node-test-helper');

const PACKAGE_DIR = path.resolve(__dirname, '..');
const REPO_ROOT = path.resolve(PACKAGE_DIR, '..', '..');

// Telemetry, update checks and the palette manager stay off, so the
// runtime contacts nothing outside this machine.
const SETTINGS = {
  telemetry: { enabled: false, updateNotification: false },
  externalModules: {
    autoInstall: false,
    palette: { allowInstall: false, allowUpload: false, allowUpdate: false },
    modules: { allowInstall: false },
  },
  editorTheme: { palette: { catalogues: [] }, tours: false },
  diagnostics: { enabled: false },
  logging: { console: { level: 'off' } },
};

helper.init(require.resolve('node-red'), SETTINGS);

const NODES = [
  require('../nodes/store'),
  require('../nodes/store-computations'),
  require('../nodes/query'),
  require('../nodes/run-linker'),
  require('../nodes/evaluate'),
  require('../nodes/changes'),
];

const CORE_NODES = {
  inject: require('@node-red/nodes/core/common/20-inject.js'),
  debug: require('@node-red/nodes/core/common/21-debug.js'),
  catch: require('@node-red/nodes/core/common/25-catch.js'),
};

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `polystat-nr-${prefix}-`));
}

/** URLs of an embedded store: one SQLite file for both kinds of data. */
function sqliteUrls(dir) {
  const url = `sqlite://${path.join(dir, 'polystat.db')}`;
  return { relationalUrl: url, documentsUrl: url, cacheUrl: 'memory' };
}

/** Opens a Store of the binding directly, to prepare data and check results. */
async function openStore(dir) {
  const { Store } = require('polystat');
  return Store.open(sqliteUrls(dir));
}

/** Resolves when `predicate()` returns a truthy value, polling every 20 ms. */
async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects the messages that a helper node receives. */
function collect(node) {
  const messages = [];
  node.on('input', (msg) => messages.push(msg));
  return messages;
}

/** Resolves with the next message that a helper node receives. */
function nextMessage(node, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message reached ${node.id} within ${timeoutMs} ms`)), timeoutMs);
    node.once('input', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

/** Returns the statuses that `node` has shown, oldest first. */
function statusesOf(node) {
  return node.status
    .getCalls()
    .filter((call) => call.thisValue === node)
    .map((call) => call.args[0]);
}

/** A Catch node that sends every error of its tab to a helper node `target`. */
function catchNodes(tab, target) {
  return [
    { id: `${target}-catch`, type: 'catch', z: tab, scope: null, uncaught: false, wires: [[target]] },
    { id: target, type: 'helper', z: tab },
  ];
}

/** Imports the project's sample OSCAL catalog and returns the cm-3 control record. */
async function importSampleControl(store) {
  await store.importOscal(path.join(REPO_ROOT, 'examples', 'data', 'oscal', 'sample-catalog.json'));
  const control = await store.controls.findOne({ external_id: 'cm-3' });
  if (!control) {
    throw new Error('the sample catalog has no cm-3 control');
  }
  return control;
}

module.exports = {
  helper,
  NODES,
  CORE_NODES,
  PACKAGE_DIR,
  REPO_ROOT,
  SETTINGS,
  makeTempDir,
  sqliteUrls,
  openStore,
  waitFor,
  collect,
  nextMessage,
  statusesOf,
  catchNodes,
  importSampleControl,
};
