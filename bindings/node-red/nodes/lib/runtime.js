'use strict';

// Wiring shared by the nodes that use a polystat-store config node.

const { configurationError, reportError, showErrorStatus } = require('./errors');

/**
 * Looks up the node's polystat-store config node and registers the node as
 * one of its users. Returns null, after showing the reason in the status
 * badge, when no store is configured.
 */
function attachStore(RED, node, storeId) {
  const storeNode = storeId ? RED.nodes.getNode(storeId) : null;
  if (!storeNode || typeof storeNode.getStore !== 'function') {
    node.status({ fill: 'red', shape: 'ring', text: 'no store configured' });
    return null;
  }
  storeNode.register(node);
  return storeNode;
}

/**
 * Runs `cleanup` when the node closes, then releases the store, so that the
 * store stays open for whatever `cleanup` still writes.
 */
function closeWith(node, storeNode, cleanup) {
  node.on('close', (removed, done) => {
    Promise.resolve()
      .then(cleanup)
      .catch((err) => node.warn(`closing failed: ${err.message}`))
      .then(() => {
        if (storeNode) {
          storeNode.release(node);
        }
        done();
      });
  });
}

/** Raised for messages that reach a node whose store is not configured. */
function missingStoreError() {
  return configurationError('the node has no polystat-store configured; choose one in its settings', 'store');
}

/**
 * Handles each input message with `work(store, msg)`, which resolves when
 * `msg` is ready to send. Shows `busyText` while it runs, `doneText(msg)`
 * after it, and reports failures to Catch nodes. `setupError`, when set,
 * fails every message: a configuration error found at deploy.
 */
function handleMessages(node, storeNode, options) {
  const { work, busyText, doneText, setupError } = options;
  node.on('input', (msg, send, done) => {
    if (setupError) {
      reportError(node, msg, setupError, done);
      return;
    }
    if (!storeNode) {
      reportError(node, msg, missingStoreError(), done);
      return;
    }
    node.status({ fill: 'blue', shape: 'dot', text: busyText });
    storeNode
      .getStore()
      .then((store) => work(store, msg))
      .then(
        () => {
          node.status({ fill: 'green', shape: 'dot', text: doneText(msg) });
          send(msg);
          done();
        },
        (err) => reportError(node, msg, err, done),
      );
  });
}

/**
 * Runs `parse` on the node configuration at deploy. A failure is shown in
 * the status badge and the log, and returned so that each message fails
 * with it as well.
 */
function checkConfiguration(node, parse) {
  try {
    parse();
    return null;
  } catch (err) {
    showErrorStatus(node, err);
    node.error(`invalid configuration: ${err.message}`);
    return err;
  }
}

module.exports = {
  attachStore,
  closeWith,
  handleMessages,
  checkConfiguration,
  missingStoreError,
};
