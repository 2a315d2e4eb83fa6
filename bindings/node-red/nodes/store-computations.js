'use strict';

const { configurationError, reportError, reportNodeError, validationError } = require('./lib/errors');
const { describeType, isPlainObject } = require('./lib/properties');
const { BatchQueue } = require('./lib/batch');
const { attachStore, closeWith, checkConfiguration, missingStoreError } = require('./lib/runtime');

const MAX_BATCH_SIZE = 10000;

function parseSettings(config) {
  const batchSize = Number(config.batchSize === undefined || config.batchSize === '' ? 100 : config.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw configurationError(`batch size must be a whole number from 1 to ${MAX_BATCH_SIZE}, got ${config.batchSize}`, 'batchSize');
  }
  const interval = Number(config.interval === undefined || config.interval === '' ? 5 : config.interval);
  if (!Number.isFinite(interval) || interval < 0) {
    throw configurationError(`interval must be a number of seconds, 0 or more, got ${config.interval}`, 'interval');
  }
  return { batchSize, intervalMs: Math.round(interval * 1000) };
}

/** Returns the computations of a message: one object or an array of objects. */
function computationsOf(payload) {
  const items = Array.isArray(payload) ? payload : [payload];
  items.forEach((item, index) => {
    if (!isPlainObject(item)) {
      const field = Array.isArray(payload) ? `msg.payload[${index}]` : 'msg.payload';
      throw validationError(field, `${field} must be a computation object, got ${describeType(item)}`);
    }
  });
  return items;
}

module.exports = function registerStoreComputations(RED) {
  /**
   * Stores computations in batches with one bulkInsert per batch, so each
   * batch is stored in one transaction or not at all. Every input message
   * completes (done) once the batch that holds it is stored, or fails with
   * the batch's error. On close it writes the computations still queued
   * before the store closes.
   */
  function PolystatStoreComputationsNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = attachStore(RED, node, config.store);
    let settings = null;
    const setupError = checkConfiguration(node, () => {
      settings = parseSettings(config);
    });
    let storedTotal = 0;

    async function writeBatch(entries) {
      const items = entries.flatMap((entry) => entry.items);
      node.status({ fill: 'blue', shape: 'dot', text: `storing ${items.length}` });
      let records;
      try {
        const store = await storeNode.getStore();
        records = items.length > 0 ? await store.computations.bulkInsert(items) : [];
      } catch (err) {
        entries.forEach((entry) => reportError(node, entry.msg, err, entry.done));
        return;
      }
      storedTotal += records.length;
      node.status({ fill: 'green', shape: 'dot', text: `stored ${storedTotal}` });
      const last = entries[entries.length - 1];
      last.send({ topic: last.msg.topic, payload: records, count: records.length });
      entries.forEach((entry) => entry.done());
    }

    const queue = setupError
      ? null
      : new BatchQueue({
          batchSize: settings.batchSize,
          intervalMs: settings.intervalMs,
          write: writeBatch,
          onError: (err) => reportNodeError(node, err),
        });

    node.on('input', (msg, send, done) => {
      if (setupError) {
        reportError(node, msg, setupError, done);
        return;
      }
      if (!storeNode) {
        reportError(node, msg, missingStoreError(), done);
        return;
      }
      let items;
      try {
        items = computationsOf(msg.payload);
      } catch (err) {
        reportError(node, msg, err, done);
        return;
      }
      queue.add({ items, msg, send, done });
    });

    closeWith(node, storeNode, () => (queue ? queue.flush() : undefined));
  }

  RED.nodes.registerType('polystat-store-computations', PolystatStoreComputationsNode);
};
