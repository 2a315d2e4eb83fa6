'use strict';

// Node-specific behavior: rejections with codes, BigInt, change events,
// the cached read path, concurrent calls and process exit.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const { PolystatError, Store } = require('..');
const { REPO_ROOT, embeddedOptions, openTarget, serversConfigured, tempFolder } = require('./helpers');

const CATALOG = { name: 'Baseline', start_date: '2024-01-01T00:00:00Z' };

function rejectsWith(promise, code, check = () => {}) {
  return assert.rejects(promise, (error) => {
    assert.ok(error instanceof PolystatError, `expected a PolystatError, got ${error}`);
    assert.ok(error instanceof Error);
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  });
}

describe('errors', () => {
  let store;
  before(async () => {
    store = await openTarget('embedded');
  });
  after(() => store.close());

  test('a missing record rejects with NOT_FOUND naming it', async () => {
    const id = '018f0000-0000-7000-8000-000000000000';
    await rejectsWith(store.catalogs.get(id), 'NOT_FOUND', (error) => {
      assert.equal(error.entity, 'catalog');
      assert.equal(error.id, id);
    });
    assert.equal(await store.catalogs.find(id), null);
  });

  test('invalid input rejects with VALIDATION naming the field', async () => {
    await rejectsWith(store.catalogs.create({ name: '', start_date: '2024-01-01T00:00:00Z' }), 'VALIDATION', (error) => {
      assert.equal(error.field, 'catalog.name');
      assert.match(error.message, /name/);
    });
    await rejectsWith(store.catalogs.get('not-a-uuid'), 'VALIDATION', (error) => {
      assert.equal(error.field, 'id');
    });
    await rejectsWith(store.catalogs.list({ filter: { name: { $where: 'true' } } }), 'VALIDATION', (error) => {
      assert.match(error.message, /\$where/);
    });
  });

  test('a stale version rejects with CONFLICT and keeps the record', async () => {
    const created = await store.catalogs.create(CATALOG);
    const updated = await store.catalogs.update(created.id, 1, { ...CATALOG, description: 'v2' });
    assert.equal(updated.version, 2);
    await rejectsWith(store.catalogs.update(created.id, 1, { ...CATALOG, description: 'lost' }), 'CONFLICT');
    assert.equal((await store.catalogs.get(created.id)).description, 'v2');
  });

  test('bad arguments reject before reaching the store', async () => {
    await rejectsWith(store.catalogs.bulkInsert('nope'), 'VALIDATION', (error) => {
      assert.equal(error.field, 'items');
    });
    await rejectsWith(store.scopes.create({ name: 'n', value: Number.NaN }), 'VALIDATION');
    await rejectsWith(store.scopes.create({ name: 'n', value: () => 1 }), 'VALIDATION', (error) => {
      assert.equal(error.field, 'value');
      assert.match(error.message, /function has no JSON form/);
    });
    await rejectsWith(store.scopes.create({ name: 'n', tags: [Symbol('s')] }), 'VALIDATION', (error) => {
      assert.equal(error.field, '0');
    });
    assert.equal(await store.scopes.count(), 0);
  });

  test('a bulk insert error names the failing item', async () => {
    const good = { name: 'environment' };
    await rejectsWith(store.scopes.bulkInsert([good, { name: '' }]), 'VALIDATION', (error) => {
      assert.equal(error.field, 'scope.name');
      assert.match(error.message, /item 1: /);
    });
    await rejectsWith(store.scopes.bulkInsert([good, good, 7]), 'VALIDATION', (error) => {
      assert.equal(error.field, 'items');
      assert.match(error.message, /item 2: /);
    });
    assert.equal(await store.scopes.count(), 0);
    await rejectsWith(Store.open({ relationalUrl: 'sqlite:///tmp/x.db', colour: 'red' }), 'VALIDATION', (error) => {
      assert.equal(error.field, 'options');
    });
    await rejectsWith(Store.open({ cacheUrl: 'ftp://example' }), 'CONFIGURATION');
  });

  test('a closed store rejects with CONFIGURATION', async () => {
    const other = await openTarget('embedded');
    await other.close();
    assert.equal(other.closed, true);
    await rejectsWith(other.catalogs.count(), 'CONFIGURATION');
    await other.close();
  });
});

describe('integers beyond 2^53', () => {
  let store;
  before(async () => {
    store = await openTarget('embedded');
  });
  after(() => store.close());

  test('come back as BigInt, exactly', async () => {
    const big = 2n ** 60n + 7n;
    const created = await store.mashups.create({ name: 'big', nodes: [{ type: 'inject', counter: big, small: 5 }] });
    assert.equal(created.nodes[0].counter, big);
    assert.equal(typeof created.nodes[0].small, 'number');
    const read = await store.mashups.get(created.id);
    assert.equal(read.nodes[0].counter, big);
    const listed = await store.mashups.listAll();
    assert.equal(listed[0].nodes[0].counter, big);
  });

  test('as plain numbers are refused instead of rounded', async () => {
    await rejectsWith(store.mashups.create({ name: 'lossy', nodes: [{ type: 'inject', counter: 2 ** 60 }] }), 'VALIDATION', (error) => {
      assert.match(error.message, /BigInt/);
    });
    assert.equal(await store.mashups.count({ name: 'lossy' }), 0);
  });

  test('versions accept BigInt', async () => {
    const created = await store.catalogs.create(CATALOG);
    const updated = await store.catalogs.update(created.id, 1n, { ...CATALOG, description: 'x' });
    assert.equal(updated.version, 2);
  });
});

describe('reads and concurrency', () => {
  let store;
  before(async () => {
    store = await openTarget('embedded');
  });
  after(() => store.close());

  test('a cached read equals the first read and sees later writes', async () => {
    const created = await store.scopes.create({ name: 'repo', description: 'one' });
    const first = await store.scopes.get(created.id);
    const second = await store.scopes.get(created.id);
    assert.deepEqual(second, first);
    assert.ok(store.cacheStats().tier1.hits >= 1);
    await store.scopes.update(created.id, 1, { name: 'repo', description: 'two' });
    assert.equal((await store.scopes.get(created.id)).description, 'two');
    await store.scopes.delete(created.id);
    assert.equal(await store.scopes.find(created.id), null);
  });

  test('concurrent calls all complete', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `scope_${i}`);
    const created = await Promise.all(names.map((name) => store.scopes.create({ name })));
    assert.equal(new Set(created.map((r) => r.id)).size, 200);
    const read = await Promise.all(created.map((r) => store.scopes.get(r.id)));
    assert.deepEqual(read.map((r) => r.name), names);
    assert.equal(await store.scopes.count({ name: { $in: names } }), 200);
  });

  test('pages and async iteration follow the cursors', async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ name: `page-${String(i).padStart(2, '0')}` }));
    await store.folders.bulkInsert(items);
    const pages = [];
    for await (const page of store.folders.pages({ sort: { name: 1 }, limit: 10 })) {
      pages.push(page.items.length);
    }
    assert.deepEqual(pages, [10, 10, 5]);
    const names = [];
    for await (const folder of store.folders) {
      names.push(folder.name);
    }
    assert.equal(names.length, 25);
  });
});

describe('change events', () => {
  test('arrive for writes of the subscribed entities', async () => {
    const store = await openTarget('embedded');
    const events = [];
    const subscription = store.changes((event) => events.push(event), ['scopes']);
    const created = await store.scopes.create({ name: 'watched' });
    await store.catalogs.create(CATALOG);
    await store.scopes.update(created.id, 1, { name: 'watched', description: 'x' });
    await store.scopes.delete(created.id);
    await waitFor(() => events.length >= 3);
    assert.deepEqual(
      events.map((e) => [e.kind, e.entity, e.ids, e.origin]),
      [
        ['created', 'scopes', [created.id], 'local'],
        ['updated', 'scopes', [created.id], 'local'],
        ['deleted', 'scopes', [created.id], 'local'],
      ],
    );
    subscription.close();
    await store.scopes.create({ name: 'after_close' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(events.length, 3);
    await store.close();
  });

  test('arrive from another process through the Redis cache', { skip: !serversConfigured() && 'test servers are not configured' }, async () => {
    const writer = await openTarget('servers');
    // The same schema, database and prefix as the writer: another process
    // on the same data.
    const reader = await Store.open({ ...writer._options });
    const events = [];
    const subscription = reader.changes((event) => events.push(event), ['scopes']);
    const created = await writer.scopes.create({ name: 'remote' });
    await writer.scopes.update(created.id, 1, { name: 'remote', description: 'x' });
    await waitFor(() => events.some((e) => e.ids.includes(created.id)));
    const remote = events.find((e) => e.ids.includes(created.id));
    assert.equal(remote.kind, 'changed');
    assert.equal(remote.origin, 'remote');
    assert.equal(remote.entity, 'scopes');
    subscription.close();
    await reader.close();
    await writer.close();
  });

  test('an unknown entity is refused', async () => {
    const store = await openTarget('embedded');
    assert.throws(() => store.changes(() => {}, ['widgets']), (error) => {
      assert.equal(error.code, 'VALIDATION');
      assert.equal(error.field, 'entities[0]');
      return true;
    });
    await store.close();
  });
});

async function waitFor(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('process lifetime', () => {
  test('a script that subscribes and returns exits', () => {
    const folder = tempFolder();
    const options = JSON.stringify(embeddedOptions(folder));
    const script = `
      const { Store } = require(${JSON.stringify(path.join(__dirname, '..'))});
      (async () => {
        const store = await Store.open(${options});
        store.changes(() => {});
        await store.state.subscribe('alerts', () => {});
        await store.scopes.create({ name: 'left_open' });
        console.log('returned');
      })();
    `;
    const started = Date.now();
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
    assert.equal(run.error, undefined, `the script did not exit: ${run.error}`);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /returned/);
    assert.ok(Date.now() - started < 20000);
  });
});

describe('evaluation', () => {
  const dist = path.join(REPO_ROOT, 'transforms', 'dist');
  const job = path.join(REPO_ROOT, 'examples', 'jobs', 'sample-pull-request-review.json');

  test('evaluateControl gives the computation that evaluateJob stored', async () => {
    const data = path.join(REPO_ROOT, 'examples', 'data');
    const store = await Store.open({ ...embeddedOptions(tempFolder()), dataRoot: data });
    try {
      const report = await store.evaluateJob(job, data);
      const evaluation = report.evaluations[0];
      const stored = await store.computations.get(evaluation.computation_id);
      const spec = JSON.parse(fs.readFileSync(job, 'utf8'));
      const linker = await store.linkers.findOne({ name: spec.linker.name });
      const transforms = Object.fromEntries(
        Object.entries(spec.transforms).map(([name, file]) => [name, path.resolve(path.dirname(job), file)]),
      );
      const linked = await store.runLinker(linker.id, transforms);
      const control = spec.controls[0];
      const computation = await store.evaluateControl({
        controlId: evaluation.control_id,
        records: linked.records,
        transforms,
        transform: control.transform,
        params: control.params ?? null,
        period: control.period,
        scope: control.scope ?? {},
      });
      assert.equal(computation.controlId, stored.controlId);
      assert.deepEqual(computation.evidences, stored.evidences);
      assert.deepEqual(computation.scope, stored.scope);
      assert.equal(computation.value, stored.value);
      assert.ok(computation.evidences.length > 0);
      assert.ok(fs.existsSync(path.join(dist, 'review-rule.wasm')));
    } finally {
      await store.close();
    }
  });
});
