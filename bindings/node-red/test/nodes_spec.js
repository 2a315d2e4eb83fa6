'use strict';

// Each node in a real Node-RED runtime against a real embedded store:
// loading, configuration checks, results and the errors that Catch nodes
// receive.

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {
  helper,
  NODES,
  CORE_NODES,
  REPO_ROOT,
  makeTempDir,
  sqliteUrls,
  openStore,
  nextMessage,
  catchNodes,
  importSampleControl,
  waitFor,
  statusesOf,
} = require('./support');

const TAB = 'tab';
const STORE = 'store';
const NODE_TYPES = [...NODES, CORE_NODES.catch];

function computation(controlId, scope) {
  return {
    computationGroup: crypto.randomUUID(),
    controlId,
    scope,
    period: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
    value: true,
    evidences: [],
  };
}

describe('polystat nodes', function () {
  let dir;
  let store;
  let control;

  before(async function () {
    dir = makeTempDir('nodes');
    store = await openStore(dir);
    control = await importSampleControl(store);
  });

  after(async function () {
    if (store) {
      await store.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    await helper.unload();
  });

  function storeConfig(overrides = {}) {
    return { id: STORE, type: 'polystat-store', name: 'test store', ...sqliteUrls(dir), dataRoot: '', ...overrides };
  }

  /** Loads `nodes` with a tab, the store config, a Catch node and output helpers. */
  async function load(nodes, options = {}) {
    const flow = [
      { id: TAB, type: 'tab', label: 'test' },
      storeConfig(options.store),
      ...nodes.map((node) => ({ z: TAB, ...node })),
      ...catchNodes(TAB, 'errors'),
      { id: 'out', type: 'helper', z: TAB },
    ];
    await helper.load(NODE_TYPES, flow, options.credentials || {});
  }

  /** Sends `msg` to node `id` and resolves with the message the Catch node receives. */
  async function expectError(id, msg) {
    const caught = nextMessage(helper.getNode('errors'));
    helper.getNode(id).receive(msg);
    return caught;
  }

  async function expectOutput(id, msg) {
    const output = nextMessage(helper.getNode('out'));
    helper.getNode(id).receive(msg);
    return output;
  }

  describe('loading', function () {
    it('registers every node type', async function () {
      await load([
        { id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] },
        { id: 'c', type: 'polystat-store-computations', store: STORE, batchSize: 10, interval: 1, wires: [['out']] },
        { id: 'l', type: 'polystat-run-linker', store: STORE, linker: 'x', linkerType: 'name', transforms: '{}', wires: [['out']] },
        {
          id: 'e',
          type: 'polystat-evaluate',
          store: STORE,
          control: 'cm-3',
          transforms: '{"rule": "rule.wasm"}',
          transform: 'rule',
          wires: [['out']],
        },
        { id: 'ch', type: 'polystat-changes', store: STORE, entities: 'computations', wires: [['out']] },
      ]);
      const expected = {
        store: 'polystat-store',
        q: 'polystat-query',
        c: 'polystat-store-computations',
        l: 'polystat-run-linker',
        e: 'polystat-evaluate',
        ch: 'polystat-changes',
      };
      for (const [id, type] of Object.entries(expected)) {
        const node = helper.getNode(id);
        assert.ok(node, `node ${id} was not created`);
        assert.strictEqual(node.type, type);
      }
    });

    it('fails messages of a node without store', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: '', entity: 'controls', mode: 'count', wires: [['out']] }]);
      const caught = await expectError('q', { payload: null });
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'store');
    });
  });

  describe('polystat-store', function () {
    it('shares one store and closes it on redeploy', async function () {
      await load([
        { id: 'q1', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] },
        { id: 'q2', type: 'polystat-query', store: STORE, entity: 'catalogs', mode: 'count', wires: [['out']] },
      ]);
      const controls = await expectOutput('q1', {});
      const catalogs = await expectOutput('q2', {});
      assert.strictEqual(controls.payload, await store.controls.count({}));
      assert.strictEqual(catalogs.payload, 1);
      const configNode = helper.getNode(STORE);
      const first = await configNode.getStore();
      const second = await configNode.getStore();
      assert.strictEqual(first, second);
      await helper.unload();
      assert.strictEqual(first.closed, true);
    });

    it('rejects a password in the URL', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] }], {
        store: { relationalUrl: 'postgres://user:secret@127.0.0.1:9/db' },
      });
      const caught = await expectError('q', {});
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'relationalUrl');
      assert.ok(!caught.error.message.includes('secret'), caught.error.message);
    });

    it('rejects a password for a SQLite URL', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] }], {
        credentials: { [STORE]: { relationalPassword: 'secret' } },
      });
      const caught = await expectError('q', {});
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.match(caught.error.message, /takes no password/);
    });

    it('reports a store that cannot open', async function () {
      const missing = path.join(dir, 'no-such-folder', 'nested', 'p.db');
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] }], {
        store: { relationalUrl: `sqlite://${missing}`, documentsUrl: `sqlite://${missing}` },
      });
      const caught = await expectError('q', {});
      assert.ok(caught.error.code, 'the error has no code');
      assert.strictEqual(caught._error.code, caught.error.code);
    });
  });

  describe('polystat-query', function () {
    it('returns one page with a filter', async function () {
      await load([
        {
          id: 'q',
          type: 'polystat-query',
          store: STORE,
          entity: 'controls',
          mode: 'page',
          filter: '{"external_id": "cm-3"}',
          limit: '10',
          wires: [['out']],
        },
      ]);
      const msg = await expectOutput('q', {});
      assert.strictEqual(msg.payload.length, 1);
      assert.strictEqual(msg.payload[0].id, control.id);
      assert.strictEqual(msg.nextCursor, null);
    });

    it('takes the filter from msg.filter', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'all', wires: [['out']] }]);
      const msg = await expectOutput('q', { filter: { external_id: { $in: ['cm-3'] } } });
      assert.deepStrictEqual(
        msg.payload.map((record) => record.id),
        [control.id],
      );
    });

    it('gets a record by id', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'get', wires: [['out']] }]);
      const msg = await expectOutput('q', { id: control.id });
      assert.strictEqual(msg.payload.external_id, 'cm-3');
    });

    it('reports NOT_FOUND for an unknown id', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'get', wires: [['out']] }]);
      const caught = await expectError('q', { payload: crypto.randomUUID() });
      assert.strictEqual(caught.error.code, 'NOT_FOUND');
      assert.strictEqual(caught.error.source.id, 'q');
    });

    it('reports an invalid filter operator', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', wires: [['out']] }]);
      const caught = await expectError('q', { filter: { external_id: { $bogus: 1 } } });
      assert.strictEqual(caught.error.code, 'VALIDATION');
    });

    it('rejects invalid filter JSON at deploy', async function () {
      await load([
        { id: 'q', type: 'polystat-query', store: STORE, entity: 'controls', mode: 'count', filter: '{"a":', wires: [['out']] },
      ]);
      const caught = await expectError('q', {});
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'filter');
    });

    it('rejects an unknown entity at deploy', async function () {
      await load([{ id: 'q', type: 'polystat-query', store: STORE, entity: 'tables', mode: 'count', wires: [['out']] }]);
      const caught = await expectError('q', {});
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'entity');
    });
  });

  describe('polystat-store-computations', function () {
    function storeNode(overrides = {}) {
      return { id: 'c', type: 'polystat-store-computations', store: STORE, batchSize: 2, interval: 0, wires: [['out']], ...overrides };
    }

    it('stores a batch when it is full', async function () {
      await load([storeNode()]);
      const output = nextMessage(helper.getNode('out'));
      helper.getNode('c').receive({ payload: computation(control.id, { test: 'full-1' }) });
      helper.getNode('c').receive({ payload: computation(control.id, { test: 'full-2' }) });
      const msg = await output;
      assert.strictEqual(msg.count, 2);
      assert.strictEqual(msg.payload.length, 2);
      assert.ok(msg.payload.every((record) => typeof record.id === 'string'));
      assert.strictEqual(await store.computations.count({ 'scope.test': { $in: ['full-1', 'full-2'] } }), 2);
    });

    it('stores a batch after the interval', async function () {
      await load([storeNode({ batchSize: 100, interval: 0.2 })]);
      const msg = await expectOutput('c', { payload: [computation(control.id, { test: 'timer' })] });
      assert.strictEqual(msg.count, 1);
    });

    it('rejects a payload that is not a computation', async function () {
      await load([storeNode()]);
      const caught = await expectError('c', { payload: 'text' });
      assert.strictEqual(caught.error.code, 'VALIDATION');
      assert.strictEqual(caught._error.field, 'msg.payload');
    });

    it('reports a computation of an unknown control', async function () {
      await load([storeNode({ batchSize: 1 })]);
      const caught = await expectError('c', { payload: computation(crypto.randomUUID(), { test: 'unknown' }) });
      assert.strictEqual(caught.error.code, 'REFERENCE');
      assert.strictEqual(caught._error.entity, 'computation');
    });

    it('rejects an invalid batch size at deploy', async function () {
      await load([storeNode({ batchSize: 0 })]);
      const caught = await expectError('c', { payload: computation(control.id, {}) });
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'batchSize');
    });
  });

  describe('polystat-run-linker', function () {
    it('reports NOT_FOUND for an unknown linker name', async function () {
      await load([
        { id: 'l', type: 'polystat-run-linker', store: STORE, linker: 'no-such-linker', linkerType: 'name', transforms: '{}', wires: [['out']] },
      ]);
      const caught = await expectError('l', {});
      assert.strictEqual(caught.error.code, 'NOT_FOUND');
      assert.strictEqual(caught._error.field, 'linker');
    });

    it('rejects an empty msg.linkerId', async function () {
      await load([{ id: 'l', type: 'polystat-run-linker', store: STORE, linker: '', transforms: '{}', wires: [['out']] }]);
      const caught = await expectError('l', { linkerId: '' });
      assert.strictEqual(caught.error.code, 'VALIDATION');
      assert.strictEqual(caught._error.field, 'msg.linkerId');
    });

    it('rejects an invalid transform map at deploy', async function () {
      await load([
        { id: 'l', type: 'polystat-run-linker', store: STORE, linker: 'x', linkerType: 'name', transforms: '{"a": 1}', wires: [['out']] },
      ]);
      const caught = await expectError('l', {});
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'transforms');
    });
  });

  describe('polystat-evaluate', function () {
    const transforms = JSON.stringify({ 'review-rule': 'transforms/dist/review-rule.wasm' });

    function evaluateNode(overrides = {}) {
      return {
        id: 'e',
        type: 'polystat-evaluate',
        store: STORE,
        control: 'cm-3',
        catalog: '',
        transformsDir: REPO_ROOT,
        transformsDirType: 'str',
        transforms,
        transform: 'review-rule',
        params: '{}',
        periodFrom: '2026-01-01T00:00:00Z',
        periodTo: '2026-02-01T00:00:00Z',
        scope: '{"repository": "sample"}',
        wires: [['out']],
        ...overrides,
      };
    }

    it('evaluates records without storing them', async function () {
      await load([evaluateNode()]);
      const before = await store.computations.count({});
      const msg = await expectOutput('e', { payload: { records: [] } });
      assert.strictEqual(msg.controlId, control.id);
      assert.deepStrictEqual(msg.payload.scope, { repository: 'sample' });
      assert.ok(Array.isArray(msg.payload.evidences));
      assert.strictEqual(await store.computations.count({}), before);
    });

    it('reports NOT_FOUND for an unknown control', async function () {
      await load([evaluateNode({ control: 'zz-99' })]);
      const caught = await expectError('e', { payload: [] });
      assert.strictEqual(caught.error.code, 'NOT_FOUND');
      assert.strictEqual(caught._error.field, 'control');
    });

    it('reports NOT_FOUND for an unknown catalog name', async function () {
      await load([evaluateNode({ catalog: 'no such catalog' })]);
      const caught = await expectError('e', { payload: [] });
      assert.strictEqual(caught.error.code, 'NOT_FOUND');
      assert.strictEqual(caught._error.field, 'catalog');
    });

    it('rejects a payload without records', async function () {
      await load([evaluateNode()]);
      const caught = await expectError('e', { payload: 'records' });
      assert.strictEqual(caught.error.code, 'VALIDATION');
      assert.strictEqual(caught._error.field, 'msg.payload');
    });

    it('rejects a rule missing from the transform map', async function () {
      await load([evaluateNode({ transform: 'other-rule' })]);
      const caught = await expectError('e', { payload: [] });
      assert.strictEqual(caught.error.code, 'CONFIGURATION');
      assert.strictEqual(caught._error.field, 'transform');
    });

    it('reports a missing transform file', async function () {
      await load([evaluateNode({ transforms: '{"review-rule": "no-such-file.wasm"}' })]);
      const caught = await expectError('e', { payload: [] });
      assert.ok(caught.error.code, 'the error has no code');
      assert.match(caught.error.message, /no-such-file\.wasm/);
    });
  });

  describe('polystat-changes', function () {
    it('sends an event for stored computations', async function () {
      await load([
        { id: 'ch', type: 'polystat-changes', store: STORE, entities: 'computations', wires: [['out']] },
        { id: 'c', type: 'polystat-store-computations', store: STORE, batchSize: 1, interval: 0, wires: [[]] },
      ]);
      const changes = helper.getNode('ch');
      await waitFor(
        () => statusesOf(changes).some((status) => status.text === 'listening'),
        10000,
        'the changes node to subscribe',
      );
      const event = nextMessage(helper.getNode('out'));
      helper.getNode('c').receive({ payload: computation(control.id, { test: 'changes' }) });
      const msg = await event;
      assert.strictEqual(msg.payload.entity, 'computations');
      assert.strictEqual(msg.payload.kind, 'created');
      assert.strictEqual(msg.topic, 'computations/created');
    });

    it('rejects an unknown entity at deploy', async function () {
      await load([{ id: 'ch', type: 'polystat-changes', store: STORE, entities: 'computations, tables', wires: [['out']] }]);
      const statuses = statusesOf(helper.getNode('ch'));
      assert.ok(
        statuses.some((status) => status.fill === 'red'),
        `no red status in ${JSON.stringify(statuses)}`,
      );
    });
  });
});
