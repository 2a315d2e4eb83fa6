'use strict';

// Hard cases of the Node package: arguments with no JSON form, strings that
// look like the BigInt mark, calls cut off by close(), listeners that fall
// behind, and arguments of the wrong type.

const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { after, before, describe, test } = require('node:test');

const { PolystatError, Store } = require('..');
const { openTarget, serversConfigured } = require('./helpers');

const CATALOG = { name: 'Baseline', start_date: '2024-01-01T00:00:00Z' };
const MARK_LIKE = '\u0000bigint:42';

function rejectsWith(promise, code, check = () => {}) {
  return assert.rejects(promise, (error) => {
    assert.ok(error instanceof PolystatError, `expected a PolystatError, got ${error}`);
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  });
}

function throwsWith(run, code, check = () => {}) {
  assert.throws(run, (error) => {
    assert.ok(error instanceof PolystatError, `expected a PolystatError, got ${error}`);
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  });
}

describe('strings that start with NUL', () => {
  let store;
  before(async () => {
    store = await openTarget('embedded');
  });
  after(() => store.close());

  test('stay strings next to a BigInt argument', async () => {
    const value = { text: MARK_LIKE, doubled: '\u0000\u0000x', big: 2n ** 60n };
    const created = await store.scopes.create({ name: 'sent', default_value: value });
    assert.deepEqual(created.default_value, value);
    await store.state.setTemp('mark', value, 60);
    assert.deepEqual(await store.state.getTemp('mark'), value);
  });

  test('stay strings in a result with a BigInt', async () => {
    // Stored without a BigInt, then read in a list that contains one.
    const text = await store.scopes.create({ name: 'text', default_value: MARK_LIKE });
    await store.scopes.create({ name: 'number', default_value: 2n ** 60n });
    const listed = await store.scopes.listAll({ filter: { name: { $in: ['text', 'number'] } } });
    const byName = Object.fromEntries(listed.map((scope) => [scope.name, scope.default_value]));
    assert.equal(byName.text, MARK_LIKE);
    assert.equal(byName.number, 2n ** 60n);
    assert.equal((await store.scopes.get(text.id)).default_value, MARK_LIKE);
  });
});

describe('bad arguments', () => {
  let store;
  before(async () => {
    store = await openTarget('embedded');
  });
  after(() => store.close());

  test('circular and deep values reject as VALIDATION', async () => {
    const circular = { ...CATALOG };
    circular.self = circular;
    await rejectsWith(store.catalogs.create(circular), 'VALIDATION', (error) => {
      assert.equal(error.field, 'arguments');
      assert.match(error.message, /circular/);
    });
    let deep = 1;
    for (let depth = 0; depth < 100000; depth += 1) {
      deep = [deep];
    }
    await rejectsWith(store.scopes.create({ name: 'deep', default_value: deep }), 'VALIDATION');
    await rejectsWith(Store.open({ relationalUrl: circular }), 'VALIDATION');
  });

  test('list options may be null but not a string', async () => {
    await store.catalogs.create(CATALOG);
    assert.equal((await store.catalogs.list(null)).items.length, 1);
    assert.equal((await store.catalogs.listAll(null)).length, 1);
    const pages = [];
    for await (const page of store.catalogs.pages(null)) {
      pages.push(page);
    }
    assert.equal(pages.length, 1);
    await rejectsWith(store.catalogs.list('name'), 'VALIDATION', (error) => {
      assert.equal(error.field, 'options');
    });
    await rejectsWith(store.catalogs.listAll([]), 'VALIDATION');
  });

  test('wrong types for the addon reject as VALIDATION', async () => {
    throwsWith(() => store.changes(() => {}, 'catalogs'), 'VALIDATION', (error) => {
      assert.equal(error.field, 'entities');
    });
    throwsWith(() => store.changes(() => {}, [1]), 'VALIDATION', (error) => {
      assert.equal(error.field, 'entities[0]');
    });
    await rejectsWith(store.state.subscribe(5, () => {}), 'VALIDATION', (error) => {
      assert.equal(error.field, 'channel');
    });
    await rejectsWith(Store.open(['sqlite://x.db']), 'VALIDATION', (error) => {
      assert.equal(error.field, 'options');
    });
  });

  test('a huge id gives a short message', async () => {
    const id = 'x'.repeat(1_000_000);
    await rejectsWith(store.catalogs.get(id), 'VALIDATION', (error) => {
      assert.equal(error.field, 'id');
      assert.ok(error.message.length < 500, `message of ${error.message.length} characters`);
      assert.match(error.message, /1000000 characters/);
    });
  });

  test('a cursor of another entity is rejected', async () => {
    await store.folders.bulkInsert([{ name: 'a' }, { name: 'b' }]);
    const page = await store.folders.list({ limit: 1 });
    assert.notEqual(page.nextCursor, null);
    await rejectsWith(store.catalogs.list({ cursor: page.nextCursor }), 'VALIDATION', (error) => {
      assert.equal(error.field, 'cursor');
    });
  });
});

describe('results', () => {
  test('have the fields index.d.ts declares', async () => {
    const store = await openTarget('embedded');
    const tokens = await store.state.issueTokens('user-1', { role: 'viewer' }, 60, 3600);
    const tokenFields = ['access_expires_at', 'access_token', 'family_id', 'refresh_expires_at', 'refresh_token'];
    assert.deepEqual(Object.keys(tokens).sort(), tokenFields);
    assert.deepEqual(Object.keys(await store.state.refresh(tokens.refresh_token)).sort(), tokenFields);
    const fresh = await store.state.issueTokens('user-2', null, 60, 3600);
    const claims = await store.state.verifyAccess(fresh.access_token);
    assert.deepEqual(Object.keys(claims).sort(), ['claims', 'expires_at', 'family_id', 'subject']);
    const session = await store.state.createSession({ cart: [] }, 60);
    assert.deepEqual(Object.keys(session).sort(), ['data', 'expires_at', 'id']);
    const datasource = await store.datasources.create({ name: 'missing', definitionId: 'file', config: { path: 'none.json' } });
    const tested = await store.testDatasource(datasource.id);
    assert.deepEqual(Object.keys(tested).sort(), ['code', 'elapsed', 'message', 'status', 'tested_at']);
    assert.equal(tested.status, 'failed');
    assert.equal(tested.code, 'VALIDATION');
    assert.equal(typeof tested.elapsed, 'number');
    await store.close();
  });
});

describe('close', () => {
  test('calls cut off by close() reject as CONFIGURATION', async () => {
    const store = await openTarget('embedded');
    const calls = Array.from({ length: 200 }, (_, i) => store.scopes.create({ name: `cut_${i}` }));
    const settled = Promise.allSettled(calls);
    await store.close();
    const codes = new Set();
    for (const result of await settled) {
      if (result.status === 'rejected') {
        codes.add(result.reason.code);
      }
    }
    assert.ok(!codes.has('UNAVAILABLE'), `codes: ${[...codes]}`);
    for (const code of codes) {
      assert.equal(code, 'CONFIGURATION');
    }
    await store.close();
  });
});

describe('a listener that falls behind', () => {
  test('gets a missed event counting what it lost', async () => {
    const store = await openTarget('embedded');
    const total = 6000;
    // A worker counts the rows on its own store, so that the listener can
    // block the event loop until every write is done.
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const counter = new Worker(path.join(__dirname, 'count_worker.js'), {
      workerData: { options: store._options, entity: 'scopes', total, signal },
    });
    let blocked = false;
    let created = 0;
    let missed = 0;
    const subscription = store.changes((event) => {
      if (!blocked) {
        blocked = true;
        Atomics.wait(signal, 0, 0, 60000);
      }
      if (event.kind === 'missed') {
        missed += event.missed;
      } else {
        created += event.ids.length;
      }
    }, ['scopes']);
    const writes = [];
    for (let i = 0; i < total; i += 1) {
      writes.push(store.scopes.create({ name: `behind_${i}` }));
    }
    await Promise.all(writes);
    await waitFor(() => created + missed >= total);
    assert.equal(Atomics.load(signal, 0), 1, 'the worker did not see every row');
    assert.ok(missed > 0, `no missed event; ${created} events arrived`);
    assert.equal(created + missed, total);
    subscription.close();
    await counter.terminate();
    await store.close();
  });
});

describe('a pub/sub listener that falls behind', () => {
  test('loses messages beyond its queue instead of queueing them all', async () => {
    const store = await openTarget('embedded');
    const queue = 4096;
    const total = 3 * queue;
    let received = 0;
    const subscription = await store.state.subscribe('burst', () => {
      received += 1;
    });
    const publishes = [];
    for (let i = 0; i < total; i += 1) {
      publishes.push(store.state.publish('burst', { i }));
    }
    // The event loop stays blocked while the publishes run on native
    // threads, so every message waits in the listener's queue.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    await Promise.all(publishes);
    let before = -1;
    while (received !== before) {
      before = received;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(received > 0, 'no message arrived');
    assert.ok(received <= queue, `${received} messages arrived, more than the queue holds`);
    subscription.close();
    await store.close();
  });
});

describe('passwords', () => {
  test('a query password stays out of toString()', { skip: !serversConfigured() && 'test servers are not configured' }, async () => {
    const store = await openTarget('servers');
    const options = { ...store._options, cacheUrl: `${store._options.cacheUrl}&password=pw-SENTINEL` };
    await store.close();
    const other = await Store.open(options);
    assert.doesNotMatch(String(other), /pw-SENTINEL/);
    await other.close();
  });

  test('a wrong password stays out of the error', { skip: !serversConfigured() && 'test servers are not configured' }, async () => {
    const url = new URL(process.env.POLYSTAT_TEST_POSTGRES_URL);
    url.password = 'pw-SENTINEL';
    await rejectsWith(Store.open({ relationalUrl: url.href }), 'UNAVAILABLE', (error) => {
      assert.doesNotMatch(`${error.message} ${error.cause} ${error.stack}`, /pw-SENTINEL/);
      assert.match(error.cause, /password authentication failed/);
      // The driver's message appears once, not once per error in its chain.
      assert.equal(error.cause.split('password authentication failed').length, 2, error.cause);
    });
  });
});

async function waitFor(condition, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
