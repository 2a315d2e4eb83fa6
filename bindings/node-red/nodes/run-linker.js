'use strict';

const { NodeError, validationError } = require('./lib/errors');
const { transformsOf } = require('./lib/transforms');
const { attachStore, closeWith, handleMessages, checkConfiguration } = require('./lib/runtime');

/**
 * Returns the id of the linker to run: msg.linkerId, else the configured
 * id, else the id of the linker with the configured name.
 */
async function resolveLinkerId(store, settings, msg) {
  if (msg.linkerId !== undefined) {
    if (typeof msg.linkerId !== 'string' || msg.linkerId === '') {
      throw validationError('msg.linkerId', 'msg.linkerId must be a non-empty string');
    }
    return msg.linkerId;
  }
  if (!settings.linker) {
    throw validationError('msg.linkerId', 'no linker to run: set the linker in the node or send msg.linkerId');
  }
  if (settings.linkerType === 'id') {
    return settings.linker;
  }
  const linker = await store.linkers.findOne({ name: settings.linker });
  if (!linker) {
    throw new NodeError('NOT_FOUND', `no linker is named ${JSON.stringify(settings.linker)}`, 'linker');
  }
  return linker.id;
}

async function runLinker(store, settings, msg) {
  const linkerId = await resolveLinkerId(store, settings, msg);
  const result = await store.runLinker(linkerId, settings.transforms);
  msg.linkerId = linkerId;
  msg.payload = { records: result.records, diagnostics: result.diagnostics };
}

function describeResult(payload) {
  const diagnostics = payload.diagnostics.length;
  return `${payload.records.length} records, ${diagnostics} diagnostics`;
}

module.exports = function registerRunLinker(RED) {
  function PolystatRunLinkerNode(config) {
    RED.nodes.createNode(this, config);
    const storeNode = attachStore(RED, this, config.store);
    const settings = {
      linker: (config.linker || '').trim(),
      linkerType: config.linkerType === 'id' ? 'id' : 'name',
      transforms: {},
    };
    const setupError = checkConfiguration(this, () => {
      settings.transforms = transformsOf(RED, this, config);
    });
    handleMessages(this, storeNode, {
      setupError,
      busyText: 'running linker',
      doneText: (msg) => describeResult(msg.payload),
      work: (store, msg) => runLinker(store, settings, msg),
    });
    closeWith(this, storeNode);
  }

  RED.nodes.registerType('polystat-run-linker', PolystatRunLinkerNode);
};
