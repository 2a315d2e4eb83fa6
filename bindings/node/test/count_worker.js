'use strict';

// Worker of hard_cases.test.js: opens its own store on the test's data,
// waits until `entity` has `total` records, then sets signal[0] to 1 and
// wakes the thread waiting on it. Run by `node --test` as a file of its
// own, it does nothing.

const { isMainThread, workerData } = require('node:worker_threads');

const { Store } = require('..');

async function main() {
  const { options, entity, total, signal } = workerData;
  const store = await Store.open(options);
  try {
    while ((await store.repository(entity).count()) < total) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
    await store.close();
  }
}

if (!isMainThread) {
  main();
}
