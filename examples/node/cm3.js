'use strict';

// Runs a job through the Node binding and prints the pass ratio of each
// evaluated control, with the change events the run caused.
//
//   transforms/build.sh && bindings/node/build.sh
//   node examples/node/cm3.js [JOB] [--data-dir DIR]
//
// JOB defaults to the sample job, examples/jobs/sample-pull-request-review.json.
// The store is the one `polystat` uses: the POLYSTAT_* environment
// variables, or polystat.db in the working directory. The output is one
// JSON object on stdout.

const path = require('node:path');

const { Store } = require('../../bindings/node');

const SAMPLE_JOB = path.join(__dirname, '..', 'jobs', 'sample-pull-request-review.json');

function parseArguments(argv) {
  const options = { job: SAMPLE_JOB, dataDir: null };
  for (let index = 0; index < argv.length; index += 1) {
    if (argv[index] === '--data-dir') {
      index += 1;
      options.dataDir = path.resolve(argv[index]);
    } else {
      options.job = path.resolve(argv[index]);
    }
  }
  return options;
}

/** Evidence counts per control, summed over its computations. */
async function passRatios(store) {
  const totals = new Map();
  for await (const computation of store.computations) {
    const control = await store.controls.get(computation.controlId);
    const name = control.external_id ?? control.name;
    const total = totals.get(name) ?? { control: name, evidences: 0, passing: 0 };
    total.evidences += computation.evidences.length;
    total.passing += computation.evidences.filter((evidence) => evidence.result).length;
    totals.set(name, total);
  }
  return [...totals.values()]
    .sort((a, b) => a.control.localeCompare(b.control))
    .map((total) => ({
      ...total,
      passRatio: total.evidences === 0 ? null : total.passing / total.evidences,
    }));
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const store = await Store.openDefault();
  const changes = [];
  const subscription = store.changes((event) => changes.push(event), ['computations']);
  try {
    const report = await store.evaluateJob(options.job, options.dataDir);
    subscription.close();
    const ratios = await passRatios(store);
    const summary = {
      job: report.job,
      evaluations: report.evaluations.length,
      changes: changes.map(({ kind, ids }) => ({ kind, ids })),
      ratios,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await store.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.code ?? 'ERROR'}: ${error.message}\n`);
  process.exitCode = 1;
});
