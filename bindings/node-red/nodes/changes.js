'use strict';

const { configurationError, reportNodeError } = require('./lib/errors');
const { ENTITIES } = require('./lib/properties');
const { attachStore, closeWith, checkConfiguration } = require('./lib/runtime');

/** Parses the comma-separated entity list; empty means every entity. */
function parseEntities(text) {
  const names = String(text || '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of names) {
    if (!ENTITIES.includes(name)) {
      throw configurationError(`entity ${JSON.stringify(name)} is not one of ${ENTITIES.join(', ')}`, 'entities');
    }
  }
  return names;
}

function toMessage(event) {
  return { topic: `${event.entity || '*'}/${event.kind}`, payload: event };
}

module.exports = function registerChanges(RED) {
  /**
   * Sends one message per change event of the store. The subscription is
   * opened at deploy and closed when the node closes.
   */
  function PolystatChangesNode(config) {
    RED.nodes.createNode(this, config);
    const storeNode = attachStore(RED, this, config.store);
    let entities = [];
    const setupError = checkConfiguration(this, () => {
      entities = parseEntities(config.entities);
    });
    let subscription = null;
    let closed = false;
    let received = 0;

    const listen = (store) => {
      if (closed) {
        return;
      }
      const listener = (event) => {
        received += 1;
        this.status({ fill: 'green', shape: 'dot', text: `${received} events` });
        this.send(toMessage(event));
      };
      subscription = store.changes(listener, entities.length > 0 ? entities : undefined);
      this.status({ fill: 'green', shape: 'ring', text: 'listening' });
    };

    if (storeNode && !setupError) {
      this.status({ fill: 'blue', shape: 'ring', text: 'opening store' });
      storeNode
        .getStore()
        .then(listen)
        .catch((err) => reportNodeError(this, err));
    }

    closeWith(this, storeNode, () => {
      closed = true;
      if (subscription) {
        subscription.close();
        subscription = null;
      }
    });
  }

  RED.nodes.registerType('polystat-changes', PolystatChangesNode);
};
