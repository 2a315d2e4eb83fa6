'use strict';

const { NodeError, configurationError, validationError } = require('./lib/errors');
const { parseJsonProperty, requireObject } = require('./lib/properties');
const { transformsOf } = require('./lib/transforms');
const { attachStore, closeWith, handleMessages, checkConfiguration } = require('./lib/runtime');

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkTimestamp(value, field) {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw validationError(field, `${field} must be an RFC 3339 timestamp such as 2023-01-01T00:00:00Z, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks the node configuration and returns the evaluation settings. */
function parseSettings(RED, node, config) {
  const control = (config.control || '').trim();
  if (!control) {
    throw configurationError('control is empty; enter the OSCAL id of a control, such as cm-3', 'control');
  }
  const transforms = transformsOf(RED, node, config);
  const transform = (config.transform || '').trim();
  if (!Object.hasOwn(transforms, transform)) {
    throw configurationError(`rule transform ${JSON.stringify(transform)} is not in the transform map`, 'transform');
  }
  const period = { from: (config.periodFrom || '').trim(), to: (config.periodTo || '').trim() };
  if (period.from || period.to) {
    checkTimestamp(period.from, 'period.from');
    checkTimestamp(period.to, 'period.to');
  }
  return {
    control,
    catalog: (config.catalog || '').trim(),
    transforms,
    transform,
    params: requireObject(parseJsonProperty(config.params, 'params', {}), 'params'),
    period: period.from ? period : null,
    scope: requireObject(parseJsonProperty(config.scope, 'scope', {}), 'scope'),
  };
}

/** Returns the catalog id: the value itself when it is a UUID, else the id of the catalog with that name. */
async function resolveCatalogId(store, catalog) {
  if (UUID_PATTERN.test(catalog)) {
    return catalog;
  }
  const record = await store.catalogs.findOne({ name: catalog });
  if (!record) {
    throw new NodeError('NOT_FOUND', `no catalog is named ${JSON.stringify(catalog)}`, 'catalog');
  }
  return record.id;
}

/**
 * Finds the control by OSCAL id. Without a catalog the id must be unique
 * in the store, because several imported catalogs can each contain cm-3.
 */
async function findControl(store, settings) {
  const filter = { external_id: settings.control };
  if (settings.catalog) {
    filter.catalog_id = await resolveCatalogId(store, settings.catalog);
  }
  const page = await store.controls.list({ filter, limit: 2 });
  if (page.items.length === 0) {
    const where = settings.catalog ? ` in catalog ${settings.catalog}` : '';
    throw new NodeError('NOT_FOUND', `no control has the OSCAL id ${settings.control}${where}`, 'control');
  }
  if (page.items.length > 1) {
    throw configurationError(
      `more than one catalog contains control ${settings.control}; set the catalog in the node`,
      'catalog',
    );
  }
  return page.items[0];
}

function recordsOf(msg) {
  if (msg.payload && Array.isArray(msg.payload.records)) {
    return msg.payload.records;
  }
  if (Array.isArray(msg.payload)) {
    return msg.payload;
  }
  throw validationError('msg.payload', 'msg.payload must be an array of records or an object with a records array');
}

function periodOf(settings, msg) {
  const period = msg.period !== undefined ? requireObject(msg.period, 'msg.period') : settings.period;
  if (!period) {
    throw validationError('msg.period', 'no period: set it in the node or send msg.period = {from, to}');
  }
  return {
    from: checkTimestamp(period.from, 'period.from'),
    to: checkTimestamp(period.to, 'period.to'),
  };
}

async function evaluate(store, settings, msg) {
  const records = recordsOf(msg);
  const period = periodOf(settings, msg);
  const control = await findControl(store, settings);
  msg.payload = await store.evaluateControl({
    controlId: control.id,
    records,
    transforms: settings.transforms,
    transform: settings.transform,
    params: msg.params !== undefined ? requireObject(msg.params, 'msg.params') : settings.params,
    period,
    scope: msg.scope !== undefined ? requireObject(msg.scope, 'msg.scope') : settings.scope,
  });
  msg.controlId = control.id;
}

function describeResult(control, computation) {
  const evidences = Array.isArray(computation.evidences) ? computation.evidences.length : 0;
  return `${control}: ${JSON.stringify(computation.value)}, ${evidences} evidences`;
}

module.exports = function registerEvaluate(RED) {
  function PolystatEvaluateNode(config) {
    RED.nodes.createNode(this, config);
    const storeNode = attachStore(RED, this, config.store);
    let settings = null;
    const setupError = checkConfiguration(this, () => {
      settings = parseSettings(RED, this, config);
    });
    handleMessages(this, storeNode, {
      setupError,
      busyText: 'evaluating',
      doneText: (msg) => describeResult(settings.control, msg.payload),
      work: (store, msg) => evaluate(store, settings, msg),
    });
    closeWith(this, storeNode);
  }

  RED.nodes.registerType('polystat-evaluate', PolystatEvaluateNode);
};
