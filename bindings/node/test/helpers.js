'use strict';

// Stores for the tests: an embedded store in a fresh folder, and a store on
// the test servers when POLYSTAT_TEST_POSTGRES_URL, POLYSTAT_TEST_MONGODB_URL
// and POLYSTAT_TEST_REDIS_URL are set (as tests/run.sh does). Each server
// store gets its own PostgreSQL schema, MongoDB database and Redis prefix.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Store } = require('..');

// 32 zero bytes in base64: a fixed master key for tests.
const TEST_MASTER_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const SERVER_VARIABLES = [
  'POLYSTAT_TEST_POSTGRES_URL',
  'POLYSTAT_TEST_MONGODB_URL',
  'POLYSTAT_TEST_REDIS_URL',
];

function serversConfigured() {
  return SERVER_VARIABLES.every((name) => Boolean(process.env[name]));
}

function tempFolder() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'polystat-node-'));
}

function uniqueName() {
  return `node_${crypto.randomUUID().replaceAll('-', '')}`;
}

function embeddedOptions(folder) {
  const url = `sqlite://${path.join(folder, 'polystat.db')}`;
  return { relationalUrl: url, documentsUrl: url, cacheUrl: 'memory' };
}

function serverOptions() {
  const name = uniqueName();
  const postgres = process.env.POLYSTAT_TEST_POSTGRES_URL;
  const mongodb = process.env.POLYSTAT_TEST_MONGODB_URL.replace(/\/[^/]*$/, '');
  const redis = process.env.POLYSTAT_TEST_REDIS_URL.replace(/\/+$/, '');
  return {
    relationalUrl: `${postgres}?options[search_path]=${name}`,
    documentsUrl: `${mongodb}/${name}`,
    cacheUrl: `${redis}/?prefix=${name}:`,
  };
}

/** Targets to run a table of cases on: embedded, then the servers. */
const TARGETS = serversConfigured() ? ['embedded', 'servers'] : ['embedded'];

async function openTarget(target, folder = tempFolder()) {
  const urls = target === 'embedded' ? embeddedOptions(folder) : serverOptions();
  const options = { ...urls, masterKey: TEST_MASTER_KEY, dataRoot: folder };
  const store = await Store.open(options);
  // Kept so that a test can open a second store on the same data.
  store._options = options;
  return store;
}

module.exports = {
  REPO_ROOT,
  TARGETS,
  TEST_MASTER_KEY,
  embeddedOptions,
  openTarget,
  serversConfigured,
  tempFolder,
};
