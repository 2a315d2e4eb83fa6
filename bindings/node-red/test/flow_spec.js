'use strict';

// Runs examples/node-red/cm3-flow.json against a store that `polystat
// evaluate` filled, and checks that the flow stores the same computation as
// the command. With POLYSTAT_TEST_DATA set, the command runs the cm-3 job
// on that data folder (NIST catalog and the ants repository). Without it,
// the command runs the sample job on examples/data, and the flow's linker,
// period and scope are set to that job's.

const assert = require('assert');
const fs = require('fs');
const { helper, NODES, CORE_NODES, REPO_ROOT, makeTempDir, openStore, collect, nextMessage } = require('./support');
const { FLOW_FILE, CM3_JOB, readJson, chooseJob, storeEnv, runEvaluate, nodeOfType, readFlowFor } = require('./jobs');

const ENV_NAMES = [
  'POLYSTAT_RELATIONAL_URL',
  'POLYSTAT_DOCUMENTS_URL',
  'POLYSTAT_CACHE_URL',
  'POLYSTAT_DATA_ROOT',
  'POLYSTAT_ROOT',
];

/** Picks the fields that make two computations the same result. */
function resultOf(record) {
  return {
    controlId: record.controlId,
    scope: record.scope,
    period: record.period,
    value: record.value,
    evidences: record.evidences,
  };
}

describe('example flow cm3-flow.json', function () {
  const { job, dataDir } = chooseJob();
  const savedEnv = {};
  let dir;
  let summary;

  before(function () {
    dir = makeTempDir('flow');
    const env = storeEnv(dir);
    summary = runEvaluate(job, dataDir, env);
    // The flow's store node leaves its fields empty, so the store opens
    // from these variables, as the example's README describes.
    for (const name of ENV_NAMES) {
      savedEnv[name] = process.env[name];
    }
    Object.assign(process.env, env, { POLYSTAT_DATA_ROOT: dataDir, POLYSTAT_ROOT: REPO_ROOT });
  });

  after(async function () {
    await helper.unload();
    for (const name of ENV_NAMES) {
      if (savedEnv[name] === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = savedEnv[name];
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('flow settings match the cm-3 job', function () {
    const flow = readJson(FLOW_FILE);
    const cm3 = readJson(CM3_JOB);
    const [control] = cm3.controls;
    const linker = nodeOfType(flow, 'polystat-run-linker');
    const evaluate = nodeOfType(flow, 'polystat-evaluate');
    assert.strictEqual(linker.linker, cm3.linker.name);
    assert.deepStrictEqual(JSON.parse(linker.transforms), { 'pr-number': 'transforms/dist/pr-number.wasm' });
    assert.strictEqual(evaluate.control, control.control);
    assert.strictEqual(evaluate.transform, control.transform);
    assert.strictEqual(evaluate.periodFrom, control.period.from);
    assert.strictEqual(evaluate.periodTo, control.period.to);
    assert.deepStrictEqual(JSON.parse(evaluate.scope), control.scope);
  });

  it('stores the computation of polystat evaluate', async function () {
    const flow = readFlowFor(job);
    // Helper nodes take the place of the debug nodes, to receive the messages.
    const debugs = flow.filter((node) => node.type === 'debug');
    for (const node of debugs) {
      node.type = 'helper';
    }
    const inject = nodeOfType(flow, 'inject');
    const [output] = nodeOfType(flow, 'polystat-store-computations').wires[0];
    const errorOutput = debugs.find((node) => node.id !== output).id;

    await helper.load([...NODES, CORE_NODES.inject, CORE_NODES.catch], flow);
    const errors = collect(helper.getNode(errorOutput));
    const stored = nextMessage(helper.getNode(output), 120000);
    helper.getNode(inject.id).receive({});
    const msg = await stored;

    assert.deepStrictEqual(
      errors.map((error) => error.error),
      [],
    );
    assert.strictEqual(msg.count, 1);
    const fromFlow = msg.payload[0];
    const [evaluation] = summary.evaluations;
    // Equal empty computations would prove little.
    assert.ok(evaluation.evidences > 0, 'polystat evaluate found no evidence');
    const store = await openStore(dir);
    try {
      const fromCommand = await store.computations.get(evaluation.computation_id);
      assert.notStrictEqual(fromFlow.id, fromCommand.id);
      assert.strictEqual(fromFlow.controlId, evaluation.control_id);
      assert.strictEqual(fromFlow.evidences.length, evaluation.evidences);
      assert.deepStrictEqual(resultOf(fromFlow), resultOf(fromCommand));
      assert.strictEqual(await store.computations.count({ controlId: evaluation.control_id }), 2);
    } finally {
      await store.close();
    }
  });
});
