'use strict';

// The polystat Node package: Promises over the Rust core.
//
// The native addon exposes one `call(op, args)` entry point that takes and
// returns JSON text. This module gives every operation its own method,
// turns addon errors into PolystatError values with stable codes, and keeps
// integers beyond 2^53 exact as BigInt.

const path = require('node:path');

const ADDON = path.join(__dirname, 'polystat.node');
const native = loadAddon();

function loadAddon() {
  try {
    return require(ADDON);
  } catch (error) {
    throw new Error(
      `polystat: cannot load the native addon ${ADDON} (${error.message}); ` +
        'build it with bindings/node/build.sh',
      { cause: error },
    );
  }
}

// ---------------------------------------------------------------- errors

const ERROR_PREFIX = 'POLYSTAT_ERROR ';

const ERROR_FIELDS = [
  'field',
  'reason',
  'entity',
  'id',
  'backend',
  'operation',
  'after',
  'retryAfter',
  'module',
  'limit',
];

/** Every rejection of a polystat Promise: `code` names the kind. */
class PolystatError extends Error {
  constructor(details) {
    super(details.message);
    this.name = 'PolystatError';
    this.code = details.code;
    if (details.cause !== undefined) {
      this.cause = details.cause;
    }
    for (const field of ERROR_FIELDS) {
      if (details[field] !== undefined) {
        this[field] = details[field];
      }
    }
  }
}

function validationError(field, reason) {
  return new PolystatError({
    code: 'VALIDATION',
    message: `invalid ${field}: ${reason}`,
    field,
    reason,
  });
}

/** Turns an addon error into a PolystatError; passes others through. */
function translate(error) {
  const message = error && typeof error.message === 'string' ? error.message : '';
  if (!message.startsWith(ERROR_PREFIX)) {
    return error;
  }
  return new PolystatError(JSON.parse(message.slice(ERROR_PREFIX.length)));
}

// ------------------------------------------------------------------ JSON

// Text with integers beyond 2^53 starts with BIG_PREFIX and carries each of
// them as a string that starts with BIG_MARK. Both directions use this form.
// In such text, a string that starts with NUL gets one more NUL in front
// (ESCAPED_NUL), so that it cannot pass for an integer. Text with such a
// string is marked too.
const BIG_PREFIX = 'B';
const BIG_MARK = '\u0000bigint:';
const NUL = '\u0000';
const ESCAPED_NUL = '\u0000\u0000';

function encode(value) {
  let marked = false;
  const text = JSON.stringify(value === undefined ? null : value, function replace(key, item) {
    if (typeof item === 'bigint') {
      marked = true;
      return BIG_MARK + item.toString();
    }
    if (typeof item === 'string' && item.startsWith(NUL)) {
      marked = true;
      return NUL + item;
    }
    if (typeof item === 'number') {
      checkNumber(key, item);
    }
    if (typeof item === 'function' || typeof item === 'symbol') {
      // JSON.stringify would drop the field, or write null in an array,
      // and the store would keep a record without the caller's value.
      throw validationError(
        key === '' ? 'value' : key,
        `a ${typeof item} has no JSON form; remove it or pass a plain value`,
      );
    }
    return item;
  });
  return marked ? BIG_PREFIX + text : text;
}

/** Encodes call arguments; values with no JSON form reject as VALIDATION. */
function encodeArguments(args) {
  try {
    return encode(args);
  } catch (error) {
    if (error instanceof PolystatError) {
      throw error;
    }
    // JSON.stringify throws TypeError for cycles and RangeError for
    // nesting deeper than the stack allows.
    const invalid = validationError('arguments', `cannot be converted to JSON: ${error.message}`);
    invalid.cause = error.message;
    throw invalid;
  }
}

function checkNumber(key, number) {
  const field = key === '' ? 'value' : key;
  if (!Number.isFinite(number)) {
    throw validationError(field, `${number} has no JSON form; pass a finite number or null`);
  }
  if (Number.isInteger(number) && !Number.isSafeInteger(number)) {
    throw validationError(
      field,
      `${number} is beyond Number.MAX_SAFE_INTEGER and may already be rounded; pass it as a BigInt`,
    );
  }
}

function decode(text) {
  if (text.startsWith(BIG_PREFIX)) {
    return revive(JSON.parse(text.slice(BIG_PREFIX.length)));
  }
  return JSON.parse(text);
}

function revive(value) {
  if (typeof value === 'string') {
    if (value.startsWith(ESCAPED_NUL)) {
      return value.slice(NUL.length);
    }
    return value.startsWith(BIG_MARK) ? BigInt(value.slice(BIG_MARK.length)) : value;
  }
  if (Array.isArray(value)) {
    return value.map(revive);
  }
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      value[key] = revive(value[key]);
    }
  }
  return value;
}

/** Runs one addon operation; every failure becomes a rejection. */
async function call(store, op, args) {
  const encoded = encodeArguments(args);
  let text;
  try {
    text = await store.call(op, encoded);
  } catch (error) {
    throw translate(error);
  }
  return decode(text);
}

// ---------------------------------------------------------- repositories

const DEFAULT_PAGE_SIZE = 1000;

/** Checks the options object of a list call; null and undefined mean none. */
function listOptions(options) {
  if (options === undefined || options === null) {
    return {};
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw validationError('options', 'must be an object such as { filter, sort, limit }');
  }
  return options;
}

/** Records of one entity. */
class Repository {
  constructor(store, entity) {
    this._store = store;
    this.entity = entity;
  }

  _call(op, args) {
    return call(this._store, `repo.${op}`, { entity: this.entity, ...args });
  }

  /** The record from this process's tier-1 cache, or undefined. */
  _cached(id) {
    if (typeof id !== 'string') {
      return undefined;
    }
    let text;
    try {
      text = this._store.cached(this.entity, id);
    } catch {
      // The full read reports the error, such as a closed store.
      return undefined;
    }
    return text === null || text === undefined ? undefined : decode(text);
  }

  create(data) {
    return this._call('create', { data });
  }

  bulkInsert(items) {
    if (!Array.isArray(items)) {
      return Promise.reject(validationError('items', 'must be an array of records'));
    }
    return this._call('bulkInsert', { items });
  }

  get(id) {
    const hit = this._cached(id);
    return hit === undefined ? this._call('get', { id }) : Promise.resolve(hit);
  }

  find(id) {
    const hit = this._cached(id);
    return hit === undefined ? this._call('find', { id }) : Promise.resolve(hit);
  }

  update(id, expectedVersion, data) {
    return this._call('update', { id, expectedVersion, data });
  }

  async delete(id, expectedVersion = null) {
    await this._call('delete', { id, expectedVersion });
  }

  list(options) {
    let checked;
    try {
      checked = listOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { filter = null, sort = null, limit = null, cursor = null } = checked;
    return this._call('list', { filter, sort, limit, cursor });
  }

  listAll(options) {
    let checked;
    try {
      checked = listOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { filter = null, sort = null } = checked;
    return this._call('listAll', { filter, sort });
  }

  async *pages(options) {
    const { filter = null, sort = null, limit = DEFAULT_PAGE_SIZE } = listOptions(options);
    let cursor = null;
    do {
      const page = await this.list({ filter, sort, limit, cursor });
      yield page;
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  async *iterate(options) {
    for await (const page of this.pages(options)) {
      yield* page.items;
    }
  }

  [Symbol.asyncIterator]() {
    return this.iterate();
  }

  count(filter = null) {
    return this._call('count', { filter });
  }

  findOne(filter = null) {
    return this._call('findOne', { filter });
  }
}

/** Users, with password registration and verification. */
class Users extends Repository {
  register(data) {
    return call(this._store, 'accounts.register', { data });
  }

  verifyPassword(username, password) {
    return call(this._store, 'accounts.verifyPassword', { username, password });
  }

  enableTwoFactor(id, expectedVersion, totpSecret) {
    return call(this._store, 'accounts.enableTwoFactor', { id, expectedVersion, totpSecret });
  }
}

/** Secrets, encrypted under the master key. */
class Secrets extends Repository {
  createSecret(data) {
    return call(this._store, 'accounts.createSecret', { data });
  }

  reveal(id) {
    return call(this._store, 'accounts.reveal', { id });
  }

  rotate(id, expectedVersion, value) {
    return call(this._store, 'accounts.rotate', { id, expectedVersion, value });
  }
}

/** Service accounts with API keys. */
class ServiceAccounts extends Repository {
  createAccount(data) {
    return call(this._store, 'accounts.createAccount', { data });
  }

  authenticate(apiKey) {
    return call(this._store, 'accounts.authenticate', { apiKey });
  }
}

/** Datasources and their usage. */
class Datasources extends Repository {
  usage(id) {
    return call(this._store, 'accounts.usage', { id });
  }
}

const REPOSITORIES = [
  ['users', 'users', Users],
  ['catalogs', 'catalogs', Repository],
  ['controls', 'controls', Repository],
  ['scopes', 'scopes', Repository],
  ['secrets', 'secrets', Secrets],
  ['serviceAccounts', 'service_accounts', ServiceAccounts],
  ['computations', 'computations', Repository],
  ['guaranteePoints', 'guarantee_points', Repository],
  ['mashups', 'mashups', Repository],
  ['datasources', 'datasources', Datasources],
  ['linkers', 'linkers', Repository],
  ['folders', 'folders', Repository],
];

// ----------------------------------------------------------------- state

function checkListener(listener) {
  if (typeof listener !== 'function') {
    throw validationError('listener', 'must be a function');
  }
}

// The addon converts these arguments itself and would throw a plain Error.
function checkEntities(entities) {
  if (entities === undefined || entities === null) {
    return null;
  }
  if (!Array.isArray(entities)) {
    throw validationError('entities', 'must be an array of repository names such as ["computations"]');
  }
  entities.forEach((name, index) => {
    if (typeof name !== 'string') {
      throw validationError(`entities[${index}]`, 'must be a string such as "computations"');
    }
  });
  return entities;
}

function subscription(handle, channel) {
  const result = {
    close() {
      handle.close();
    },
    get closed() {
      return handle.closed;
    },
  };
  if (channel !== undefined) {
    result.channel = channel;
  }
  return result;
}

/** Tokens, sessions, rate limits, pub/sub and temporary values. */
class State {
  constructor(store) {
    this._store = store;
  }

  _call(op, args) {
    return call(this._store, `state.${op}`, args);
  }

  issueTokens(subject, claims, accessTtl, refreshTtl) {
    return this._call('issueTokens', { subject, claims, accessTtl, refreshTtl });
  }

  verifyAccess(accessToken) {
    return this._call('verifyAccess', { accessToken });
  }

  refresh(refreshToken) {
    return this._call('refresh', { refreshToken });
  }

  revokeFamily(familyId) {
    return this._call('revokeFamily', { familyId });
  }

  revokeToken(token) {
    return this._call('revokeToken', { token });
  }

  createSession(data, ttl) {
    return this._call('createSession', { data, ttl });
  }

  getSession(id) {
    return this._call('getSession', { id });
  }

  updateSession(id, data) {
    return this._call('updateSession', { id, data });
  }

  touchSession(id, ttl) {
    return this._call('touchSession', { id, ttl });
  }

  deleteSession(id) {
    return this._call('deleteSession', { id });
  }

  rateLimit(key, limit, window) {
    return this._call('rateLimit', { key, limit, window });
  }

  async checkRateLimit(key, limit, window) {
    await this._call('checkRateLimit', { key, limit, window });
  }

  async publish(channel, message) {
    await this._call('publish', { channel, message });
  }

  async subscribe(channel, listener) {
    checkListener(listener);
    if (typeof channel !== 'string') {
      throw validationError('channel', 'must be a string');
    }
    let handle;
    try {
      handle = await this._store.subscribe(channel, (text) => listener(decode(text)));
    } catch (error) {
      throw translate(error);
    }
    return subscription(handle, channel);
  }

  async setTemp(key, value, ttl) {
    await this._call('setTemp', { key, value, ttl });
  }

  getTemp(key) {
    return this._call('getTemp', { key });
  }

  deleteTemp(key) {
    return this._call('deleteTemp', { key });
  }
}

// ------------------------------------------------------------ transforms

/** Reads a module given as bytes or as a file path. */
function moduleBytes(wasm) {
  if (typeof wasm === 'string') {
    return require('node:fs').readFileSync(wasm);
  }
  if (wasm instanceof Uint8Array) {
    return Buffer.from(wasm.buffer, wasm.byteOffset, wasm.byteLength);
  }
  throw validationError('wasm', 'must be a Buffer, a Uint8Array or a file path');
}

/** The WebAssembly transform registry: versioned modules by name. */
class Transforms {
  constructor(store) {
    this._store = store;
  }

  _call(op, args) {
    return call(this._store, `transforms.${op}`, args);
  }

  async upload(name, wasm, limits = null) {
    let bytes;
    try {
      bytes = moduleBytes(wasm);
    } catch (error) {
      throw error instanceof PolystatError ? error : validationError('wasm', error.message);
    }
    return this._call('upload', { name, wasmBase64: bytes.toString('base64'), limits });
  }

  list() {
    return this._call('list', {});
  }

  versions(name) {
    return this._call('versions', { name });
  }

  async get(name, version = null) {
    const stored = await this._call('get', { name, version });
    return { info: stored.info, wasm: Buffer.from(stored.wasmBase64, 'base64') };
  }

  delete(name, version = null) {
    return this._call('delete', { name, version });
  }

  usage(name, version = null) {
    return this._call('usage', { name, version });
  }

  call(name, records, params = null, version = null) {
    if (!Array.isArray(records)) {
      return Promise.reject(validationError('records', 'must be an array'));
    }
    return this._call('call', { name, version, records, params });
  }
}

// ----------------------------------------------------------------- store

/** An open polystat store. */
class Store {
  constructor(handle) {
    this._store = handle;
    for (const [property, entity, Kind] of REPOSITORIES) {
      this[property] = new Kind(handle, entity);
    }
    this.state = new State(handle);
    this.transforms = new Transforms(handle);
  }

  /** Opens a store; unset options come from POLYSTAT_* or the defaults. */
  static async open(options = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw validationError('options', 'must be an object');
    }
    const encoded = encodeArguments(options);
    try {
      return new Store(await native.openStore(encoded));
    } catch (error) {
      throw translate(error);
    }
  }

  /** The store of the POLYSTAT_* variables, or ./polystat.db. */
  static openDefault() {
    return Store.open({});
  }

  repository(entity) {
    const found = REPOSITORIES.find(([property, name]) => name === entity || property === entity);
    if (found === undefined) {
      throw validationError('entity', `unknown repository ${JSON.stringify(entity)}`);
    }
    return this[found[0]];
  }

  get closed() {
    return this._store.closed;
  }

  async close() {
    await this._store.close();
  }

  cacheStats() {
    try {
      return JSON.parse(this._store.cacheStats());
    } catch (error) {
      throw translate(error);
    }
  }

  runLinker(linkerId, transforms = null) {
    return call(this._store, 'store.runLinker', { linkerId, transforms });
  }

  testLinker(linkerId, transforms = null, sampleSize = null) {
    return call(this._store, 'store.testLinker', { linkerId, transforms, sampleSize });
  }

  linkerResult(linkerId, transforms = null, sampleSize = null) {
    return call(this._store, 'store.linkerResult', { linkerId, transforms, sampleSize });
  }

  testDatasource(datasourceId) {
    return call(this._store, 'store.testDatasource', { datasourceId });
  }

  importOscal(catalog) {
    return call(this._store, 'store.importOscal', { catalog });
  }

  evaluateJob(jobPath, dataDir = null) {
    return call(this._store, 'store.evaluateJob', { jobPath, dataDir });
  }

  evaluateControl(input) {
    if (input === null || typeof input !== 'object') {
      return Promise.reject(validationError('input', 'must be an object'));
    }
    const { transforms = null, ...rest } = input;
    return call(this._store, 'store.evaluateControl', { transforms, input: rest });
  }

  changes(listener, entities = null) {
    checkListener(listener);
    const names = checkEntities(entities);
    try {
      const handle = this._store.changes(names, (text) => listener(decode(text)));
      return subscription(handle);
    } catch (error) {
      throw translate(error);
    }
  }

  toString() {
    return this._store.describe();
  }
}

module.exports = {
  Store,
  Repository,
  Users,
  Secrets,
  ServiceAccounts,
  Datasources,
  State,
  Transforms,
  PolystatError,
};
