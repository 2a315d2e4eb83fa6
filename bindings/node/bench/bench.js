'use strict';

// Benchmark of the polystat Node binding; prints one JSON object.
//
// - node_get_cached_us: microseconds per `await store.catalogs.get(id)` of a
//   record in the tier-1 cache of an embedded SQLite store.
// - ratios.node_list_vs_mongodb_driver: seconds of the official MongoDB
//   driver reading --count computations (`collection.find({}).toArray()`)
//   over seconds of `store.computations.listAll()` reading the same
//   documents from the same server. Above 1 means polystat is faster.
//
// Usage (the MongoDB URL defaults to POLYSTAT_DOCUMENTS_URL, then to
// POLYSTAT_TEST_MONGODB_URL):
//
//   node bindings/node/bench/bench.js --mongodb-url mongodb://HOST:PORT/DB
//
// Build the addon with `bash bindings/node/build.sh --release` first: a
// debug addon measures unoptimized Rust.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { MongoClient } = require('mongodb');
const { Store } = require('..');

const INSERT_BATCH = 5000;
const WARM_UP_GETS = 1000;

const USAGE = `usage: node bench.js [--mongodb-url URL] [--count N] [--gets N] [--runs N]
  --mongodb-url  mongodb:// URL of the server to list from; a fresh database
                 on it is created and dropped
  --count        computations to insert and list (default 100000)
  --gets         cached gets to time (default 100000)
  --runs         timed listings per side, alternating; the fastest counts
                 (default 3)`;

function options() {
  const { values } = parseArgs({
    options: {
      'mongodb-url': { type: 'string' },
      count: { type: 'string', default: '100000' },
      gets: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const url =
    values['mongodb-url'] ||
    process.env.POLYSTAT_DOCUMENTS_URL ||
    process.env.POLYSTAT_TEST_MONGODB_URL;
  if (!url) {
    fail('no MongoDB URL: pass --mongodb-url or set POLYSTAT_DOCUMENTS_URL');
  }
  return {
    url,
    count: positive('count', values.count),
    gets: positive('gets', values.gets),
    runs: positive('runs', values.runs),
  };
}

function positive(name, text) {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    fail(`invalid --${name} ${JSON.stringify(text)}: expected a whole number of at least 1`);
  }
  return value;
}

function fail(message) {
  console.error(`bench.js: ${message}\n${USAGE}`);
  process.exit(2);
}

function seconds(started) {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

async function benchCachedGet(folder, calls) {
  const url = `sqlite://${path.join(folder, 'cached.db')}`;
  const store = await Store.open({ relationalUrl: url, documentsUrl: url, cacheUrl: 'memory' });
  try {
    const record = await store.catalogs.create({
      name: 'cached',
      start_date: '2024-01-01T00:00:00Z',
    });
    for (let i = 0; i < WARM_UP_GETS; i += 1) {
      await store.catalogs.get(record.id);
    }
    const hitsBefore = store.cacheStats().tier1.hits;
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) {
      await store.catalogs.get(record.id);
    }
    const elapsed = seconds(started);
    const hits = store.cacheStats().tier1.hits - hitsBefore;
    if (hits < calls) {
      throw new Error(`only ${hits} tier-1 hits for ${calls} gets`);
    }
    return (elapsed / calls) * 1e6;
  } finally {
    await store.close();
  }
}

// The same computation shape as bindings/python/bench/bench.py.
function computation(controlId, group, index) {
  return {
    computationGroup: group,
    controlId,
    scope: { repository: 'bench', n: index },
    period: { from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z' },
    value: index % 3 !== 0,
    evidences: [{ id: `e${index}`, key: String(index), value: { n: index }, result: index % 2 === 0 }],
  };
}

async function fill(store, count) {
  const catalog = await store.catalogs.create({
    name: 'bench',
    start_date: '2024-01-01T00:00:00Z',
  });
  const control = await store.controls.create({
    catalog_id: catalog.id,
    name: 'bench',
    start_date: '2024-01-01T00:00:00Z',
  });
  const group = crypto.randomUUID();
  for (let start = 0; start < count; start += INSERT_BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + INSERT_BATCH); i += 1) {
      batch.push(computation(control.id, group, i));
    }
    await store.computations.bulkInsert(batch);
  }
}

/** Times one listing through polystat; returns seconds and the count. */
async function listPolystat(store) {
  const started = process.hrtime.bigint();
  const records = await store.computations.listAll();
  return { seconds: seconds(started), count: records.length };
}

/** Times one listing through the driver; returns seconds and the count. */
async function listDriver(collection, raw) {
  const started = process.hrtime.bigint();
  const documents = await collection.find({}, { raw }).toArray();
  return { seconds: seconds(started), count: documents.length };
}

/**
 * Splits one polystat listing into the addon call, which fetches from the
 * server and encodes the records as JSON text in Rust, and JSON.parse in
 * JavaScript. It calls the addon handle that the Store wraps, so it leaves
 * out only the argument encoding of index.js.
 */
async function polystatPhases(store) {
  const args = JSON.stringify({ entity: 'computations', filter: null, sort: null });
  let started = process.hrtime.bigint();
  const text = await store._store.call('repo.listAll', args);
  const nativeSeconds = seconds(started);
  started = process.hrtime.bigint();
  const records = JSON.parse(text);
  return {
    addon_call_s: round(nativeSeconds, 3),
    json_parse_s: round(seconds(started), 3),
    json_bytes: Buffer.byteLength(text),
    count: records.length,
  };
}

function checkCount(side, count, expected) {
  if (count !== expected) {
    throw new Error(`${side} read ${count} of ${expected} computations`);
  }
}

/** Returns `url` with its database replaced by `database`, options kept. */
function withDatabase(url, database) {
  const parts = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(\/[^?]*)?(\?.*)?$/.exec(url);
  if (parts === null) {
    fail(`invalid MongoDB URL ${JSON.stringify(url)}: expected mongodb://HOST[:PORT][/DB]`);
  }
  return `${parts[1]}/${database}${parts[3] || ''}`;
}

async function benchList(folder, url, count, runs) {
  const database = `nodebench_${crypto.randomBytes(8).toString('hex')}`;
  const databaseUrl = withDatabase(url, database);
  const client = new MongoClient(databaseUrl);
  let store = null;
  try {
    store = await Store.open({
      relationalUrl: `sqlite://${path.join(folder, 'relational.db')}`,
      documentsUrl: databaseUrl,
      cacheUrl: 'memory',
    });
    let started = process.hrtime.bigint();
    await fill(store, count);
    const fillSeconds = seconds(started);
    await client.connect();
    const collection = client.db(database).collection('computations');
    const best = { polystat: Infinity, driver: Infinity, driverRaw: Infinity };
    for (let run = 0; run < runs; run += 1) {
      const polystat = await listPolystat(store);
      checkCount('polystat', polystat.count, count);
      best.polystat = Math.min(best.polystat, polystat.seconds);
      const driver = await listDriver(collection, false);
      checkCount('the MongoDB driver', driver.count, count);
      best.driver = Math.min(best.driver, driver.seconds);
      const driverRaw = await listDriver(collection, true);
      checkCount('the MongoDB driver (raw)', driverRaw.count, count);
      best.driverRaw = Math.min(best.driverRaw, driverRaw.seconds);
    }
    const phases = await polystatPhases(store);
    checkCount('polystat (phases)', phases.count, count);
    delete phases.count;
    return { fillSeconds, best, phases };
  } finally {
    if (store !== null) {
      await store.close();
    }
    await client.db(database).dropDatabase();
    await client.close();
  }
}

async function main() {
  const args = options();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'polystat-node-bench-'));
  try {
    const getUs = await benchCachedGet(folder, args.gets);
    const list = await benchList(folder, args.url, args.count, args.runs);
    const result = {
      suite: 'node',
      node_get_cached_us: round(getUs, 3),
      gets: args.gets,
      list_count: args.count,
      runs: args.runs,
      fill_s: round(list.fillSeconds, 3),
      node_list_s: round(list.best.polystat, 3),
      mongodb_driver_list_s: round(list.best.driver, 3),
      mongodb_driver_raw_list_s: round(list.best.driverRaw, 3),
      polystat_phases: list.phases,
      ratios: {
        node_list_vs_mongodb_driver: round(list.best.driver / list.best.polystat, 3),
      },
    };
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
