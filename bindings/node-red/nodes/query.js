'use strict';

const { configurationError, validationError } = require('./lib/errors');
const { ENTITIES, parseJsonProperty, requireObject } = require('./lib/properties');
const { attachStore, closeWith, handleMessages, checkConfiguration } = require('./lib/runtime');

const MODES = ['page', 'all', 'count', 'get'];
const MAX_LIMIT = 10000;

/** Checks the node configuration and returns the parsed query settings. */
function parseSettings(config) {
  if (!ENTITIES.includes(config.entity)) {
    throw configurationError(`entity ${JSON.stringify(config.entity)} is not one of ${ENTITIES.join(', ')}`, 'entity');
  }
  const mode = config.mode || 'page';
  if (!MODES.includes(mode)) {
    throw configurationError(`mode ${JSON.stringify(mode)} is not one of ${MODES.join(', ')}`, 'mode');
  }
  const filter = parseJsonProperty(config.filter, 'filter', undefined);
  if (filter !== undefined) {
    requireObject(filter, 'filter');
  }
  const sort = parseJsonProperty(config.sort, 'sort', undefined);
  if (sort !== undefined) {
    requireObject(sort, 'sort');
  }
  const limit = config.limit === undefined || config.limit === '' ? undefined : checkLimit(Number(config.limit), 'limit');
  return { entity: config.entity, mode, filter, sort, limit };
}

function checkLimit(value, field) {
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    throw validationError(field, `${field} must be a whole number from 1 to ${MAX_LIMIT}, got ${value}`);
  }
  return value;
}

/** Returns the list options of one message: its msg properties override the node's. */
function listOptions(settings, msg) {
  const options = {};
  const filter = msg.filter !== undefined ? requireObject(msg.filter, 'msg.filter') : settings.filter;
  const sort = msg.sort !== undefined ? requireObject(msg.sort, 'msg.sort') : settings.sort;
  const limit = msg.limit !== undefined ? checkLimit(Number(msg.limit), 'msg.limit') : settings.limit;
  if (filter !== undefined) {
    options.filter = filter;
  }
  if (sort !== undefined) {
    options.sort = sort;
  }
  if (limit !== undefined) {
    options.limit = limit;
  }
  return options;
}

function requestedId(msg) {
  const id = msg.id !== undefined ? msg.id : msg.payload;
  if (typeof id !== 'string' || id === '') {
    throw validationError('msg.id', 'mode "get" needs the record id in msg.id or as a string in msg.payload');
  }
  return id;
}

/** Runs the query of one message and sets msg.payload (and msg.nextCursor for pages). */
async function runQuery(store, settings, msg) {
  const repository = store.repository(settings.entity);
  const options = listOptions(settings, msg);
  switch (settings.mode) {
    case 'page': {
      const page = await repository.list({ ...options, cursor: msg.cursor || null });
      msg.payload = page.items;
      msg.nextCursor = page.nextCursor;
      break;
    }
    case 'all':
      delete options.limit;
      msg.payload = await repository.listAll(options);
      break;
    case 'count':
      msg.payload = await repository.count(options.filter || {});
      break;
    case 'get':
      msg.payload = await repository.get(requestedId(msg));
      break;
  }
}

function describeResult(mode, payload) {
  if (mode === 'count') {
    return `count: ${payload}`;
  }
  if (mode === 'get') {
    return `found ${payload.id}`;
  }
  return `${payload.length} records`;
}

module.exports = function registerQuery(RED) {
  function PolystatQueryNode(config) {
    RED.nodes.createNode(this, config);
    const storeNode = attachStore(RED, this, config.store);
    let settings = null;
    const setupError = checkConfiguration(this, () => {
      settings = parseSettings(config);
    });
    handleMessages(this, storeNode, {
      setupError,
      busyText: 'querying',
      doneText: (msg) => describeResult(settings.mode, msg.payload),
      work: (store, msg) => runQuery(store, settings, msg),
    });
    closeWith(this, storeNode);
  }

  RED.nodes.registerType('polystat-query', PolystatQueryNode);
};
