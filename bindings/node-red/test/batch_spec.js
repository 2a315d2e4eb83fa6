'use strict';

// The store-computations node under load: a split sequence of 1,000
// computations, and a redeploy while part of a batch is still queued. Every
// computation carries its sequence number in its scope, so the checks see
// a lost or duplicated computation, not only a wrong total.

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const {
  helper,
  NODES,
  CORE_NODES,
  makeTempDir,
  sqliteUrls,
  openStore,
  collect,
  catchNodes,
  importSampleControl,
  waitFor,
} = require('./support');

const TAB = 'tab';
const STORE = 'store';
const TOTAL = 1000;

function range(count) {
  return Array.from({ length: count }, (_, index) => index);
}

describe('polystat-store-computations batching', function () {
  let dir;
  let store;
  let control;

  before(async function () {
    dir = makeTempDir('batch');
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

  function flow(batchSize) {
    return [
      { id: TAB, type: 'tab', label: 'batching' },
      { id: STORE, type: 'polystat-store', name: 'test store', ...sqliteUrls(dir), dataRoot: '' },
      // No timer: only a full batch, the end of the sequence or a close writes.
      { id: 'c', type: 'polystat-store-computations', z: TAB, store: STORE, batchSize, interval: 0, wires: [['out']] },
      { id: 'out', type: 'helper', z: TAB },
      ...catchNodes(TAB, 'errors'),
    ];
  }

  function computation(tag, number) {
    return {
      computationGroup: crypto.randomUUID(),
      controlId: control.id,
      scope: { tag, n: number },
      period: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
      value: number % 2 === 0,
      evidences: [],
    };
  }

  /** Sends parts `from` to `to - 1` of a split sequence of TOTAL messages. */
  function sendParts(node, tag, from, to) {
    for (let index = from; index < to; index += 1) {
      node.receive({
        payload: computation(tag, index),
        parts: { id: `sequence-${tag}`, index, count: TOTAL, type: 'array', len: 1 },
      });
    }
  }

  function countStored(tag) {
    return store.computations.count({ 'scope.tag': tag });
  }

  async function storedNumbers(tag) {
    const records = await store.computations.listAll({ filter: { 'scope.tag': tag } });
    return records.map((record) => record.scope.n).sort((a, b) => a - b);
  }

  function sumCounts(messages) {
    return messages.reduce((sum, msg) => sum + msg.count, 0);
  }

  it('stores a split sequence of 1,000 exactly once', async function () {
    await helper.load([...NODES, CORE_NODES.catch], flow(128));
    const outputs = collect(helper.getNode('out'));
    const errors = collect(helper.getNode('errors'));

    sendParts(helper.getNode('c'), 'split', 0, TOTAL);
    await waitFor(() => sumCounts(outputs) >= TOTAL, 60000, `${TOTAL} stored computations`);

    assert.deepStrictEqual(errors, []);
    assert.strictEqual(sumCounts(outputs), TOTAL);
    // Seven full batches of 128, then the last part writes the other 104.
    assert.deepStrictEqual(
      outputs.map((msg) => msg.count),
      [128, 128, 128, 128, 128, 128, 128, 104],
    );
    assert.strictEqual(await countStored('split'), TOTAL);
    assert.deepStrictEqual(await storedNumbers('split'), range(TOTAL));
  });

  it('loses and duplicates nothing across a redeploy', async function () {
    await helper.load([...NODES, CORE_NODES.catch], flow(300));
    const errors = collect(helper.getNode('errors'));

    sendParts(helper.getNode('c'), 'redeploy', 0, 500);
    await waitFor(async () => (await countStored('redeploy')) >= 300, 60000, 'the first full batch');
    // The other 200 computations wait in the node's queue.
    assert.strictEqual(await countStored('redeploy'), 300);

    await helper.setFlows(flow(300), 'full');
    assert.strictEqual(await countStored('redeploy'), 500, 'the redeploy did not write the held batch');

    const errorsAfterRedeploy = collect(helper.getNode('errors'));
    sendParts(helper.getNode('c'), 'redeploy', 500, TOTAL);
    await waitFor(async () => (await countStored('redeploy')) >= TOTAL, 60000, `${TOTAL} stored computations`);
    // A late duplicate write would land after the count first reaches 1,000.
    await new Promise((resolve) => setTimeout(resolve, 500));

    assert.deepStrictEqual(errors, []);
    assert.deepStrictEqual(errorsAfterRedeploy, []);
    assert.strictEqual(await countStored('redeploy'), TOTAL);
    assert.deepStrictEqual(await storedNumbers('redeploy'), range(TOTAL));
  });
});
