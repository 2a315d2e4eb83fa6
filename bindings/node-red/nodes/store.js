'use strict';

const { buildOpenOptions, loadBinding } = require('./lib/open');

module.exports = function registerStore(RED) {
  /**
   * Config node with the settings of one polystat store. All nodes that use
   * it share one open Store, opened on first use. On redeploy the store
   * closes only after every node using it has finished closing, because
   * Node-RED closes all nodes at once and the store-computations node still
   * writes its last batch while it closes.
   */
  function PolystatStoreNode(config) {
    RED.nodes.createNode(this, config);
    this.name = config.name;
    this.settings = {
      relationalUrl: config.relationalUrl,
      documentsUrl: config.documentsUrl,
      cacheUrl: config.cacheUrl,
      dataRoot: config.dataRoot,
    };

    const users = new Set();
    let opening = null;
    let onIdle = null;

    /** Records a node that uses the store until it calls `release`. */
    this.register = (user) => {
      users.add(user);
    };

    this.release = (user) => {
      users.delete(user);
      if (users.size === 0 && onIdle) {
        onIdle();
      }
    };

    /** Resolves to the shared Store; a failed open is retried on the next call. */
    this.getStore = () => {
      if (!opening) {
        opening = openStore(this).catch((err) => {
          opening = null;
          throw err;
        });
      }
      return opening;
    };

    const whenIdle = () =>
      new Promise((resolve) => {
        if (users.size === 0) {
          resolve();
        } else {
          onIdle = resolve;
        }
      });

    const closeStore = async () => {
      const pending = opening;
      opening = null;
      if (!pending) {
        return;
      }
      const store = await pending.catch(() => null);
      if (store && !store.closed) {
        await store.close();
      }
    };

    this.on('close', (removed, done) => {
      whenIdle()
        .then(closeStore)
        .catch((err) => this.warn(`closing the store failed: ${err.message}`))
        .then(() => done());
    });
  }

  async function openStore(node) {
    const options = buildOpenOptions(node.settings, node.credentials);
    const { Store } = loadBinding();
    const store = await Store.open(options);
    node.log(`opened store ${node.name || node.id}`);
    return store;
  }

  RED.nodes.registerType('polystat-store', PolystatStoreNode, {
    credentials: {
      masterKey: { type: 'password' },
      relationalPassword: { type: 'password' },
      documentsPassword: { type: 'password' },
      cachePassword: { type: 'password' },
    },
  });
};
