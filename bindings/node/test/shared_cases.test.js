'use strict';

// Runs the language-neutral cases of tests/cases/*.json, the table that the
// Rust and Python suites run too, through the Node API.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test } = require('node:test');

const { PolystatError } = require('..');
const { REPO_ROOT, TARGETS, openTarget } = require('./helpers');

const CASES_DIR = path.join(REPO_ROOT, 'tests', 'cases');

function caseFiles() {
  return fs
    .readdirSync(CASES_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => [name, JSON.parse(fs.readFileSync(path.join(CASES_DIR, name), 'utf8'))]);
}

/** Replaces each `${name.path}` string with the saved value. */
function resolve(value, saved) {
  if (typeof value === 'string' && value.startsWith('${') && value.endsWith('}')) {
    const [name, ...segments] = value.slice(2, -1).split('.');
    let current = saved[name];
    for (const segment of segments) {
      current = current[/^\d+$/.test(segment) ? Number(segment) : segment];
    }
    return current;
  }
  if (Array.isArray(value)) {
    return value.map((item) => resolve(item, saved));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, saved)]));
  }
  return value;
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function instant(value) {
  return typeof value === 'string' && INSTANT.test(value) ? Date.parse(value) : null;
}

function hasType(kind, value) {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' || typeof value === 'bigint';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'instant':
      return instant(value) !== null;
    default:
      throw new Error(`unknown $type ${kind} in a case file`);
  }
}

/** Asserts that `actual` matches `expected` by the rules of tests/cases/README.md. */
function check(expected, actual, where) {
  if (expected !== null && typeof expected === 'object' && '$type' in expected) {
    assert.ok(hasType(expected.$type, actual), `${where}: expected ${expected.$type}, got ${actual}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((item, index) => check(item, actual[index], `${where}[${index}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${where}: expected an object`);
    for (const [key, item] of Object.entries(expected)) {
      assert.ok(key in actual, `${where}.${key}: missing`);
      check(item, actual[key], `${where}.${key}`);
    }
  } else if (instant(expected) !== null && instant(actual) !== null) {
    assert.equal(instant(actual), instant(expected), `${where}: instant`);
  } else {
    assert.deepEqual(actual, expected, where);
  }
}

/** Change events received per subscription name, and their listeners. */
class Feeds {
  constructor() {
    this.events = new Map();
    this.subscriptions = [];
  }

  subscribe(store, name, entities) {
    const received = [];
    this.events.set(name, received);
    this.subscriptions.push(store.changes((event) => received.push(event), entities ?? null));
    return null;
  }

  async next(name) {
    const received = this.events.get(name);
    const deadline = Date.now() + 5000;
    while (received.length === 0) {
      assert.ok(Date.now() < deadline, `no change event on ${name} within 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return received.shift();
  }

  close() {
    this.subscriptions.forEach((subscription) => subscription.close());
  }
}

/** Module paths of a step's `transforms`, resolved against the repository root. */
function transformPaths(step) {
  return Object.fromEntries(
    Object.entries(step.transforms).map(([name, file]) => [name, path.join(REPO_ROOT, file)]),
  );
}

function storeStep(store, step, feeds) {
  switch (step.op) {
    case 'subscribe':
      return new Promise((resolve) => resolve(feeds.subscribe(store, step.subscription, step.entities)));
    case 'nextChange':
      return feeds.next(step.subscription);
    case 'evaluateControl':
      return store.evaluateControl({ ...step.input, transforms: transformPaths(step) });
    case 'writeFile':
      fs.writeFileSync(path.join(store._options.dataRoot, step.path), JSON.stringify(step.content));
      return Promise.resolve(null);
    case 'runLinker':
      return store.runLinker(step.id, transformPaths(step));
    case 'uploadTransform':
      return store.transforms.upload(step.name, path.join(REPO_ROOT, step.path), step.limits ?? null);
    case 'transformVersions':
      return store.transforms.versions(step.name);
    case 'callTransform':
      return store.transforms.call(step.name, step.records, step.params ?? null, step.version ?? null);
    case 'deleteTransform':
      return store.transforms.delete(step.name, step.version ?? null);
    default:
      return null;
  }
}

function runStep(store, step, feeds) {
  const onStore = storeStep(store, step, feeds);
  if (onStore !== null) {
    return onStore;
  }
  const repo = store.repository(step.entity);
  const options = { filter: step.filter, sort: step.sort, limit: step.limit, cursor: step.cursor };
  switch (step.op) {
    case 'create':
      return repo.create(step.data);
    case 'bulkInsert':
      return repo.bulkInsert(step.items);
    case 'get':
      return repo.get(step.id);
    case 'find':
      return repo.find(step.id);
    case 'update':
      return repo.update(step.id, step.expectedVersion, step.data);
    case 'delete':
      return repo.delete(step.id, step.expectedVersion).then(() => null);
    case 'list':
      return repo.list(options);
    case 'listAll':
      return repo.listAll(options);
    case 'count':
      return repo.count(step.filter);
    case 'findOne':
      return repo.findOne(step.filter);
    default:
      throw new Error(`unknown op ${step.op} in a case file`);
  }
}

async function runCase(store, testCase) {
  const saved = {};
  const feeds = new Feeds();
  try {
    await runSteps(store, testCase, saved, feeds);
  } finally {
    feeds.close();
  }
}

async function runSteps(store, testCase, saved, feeds) {
  for (const [index, raw] of testCase.steps.entries()) {
    const step = resolve(raw, saved);
    const where = `step ${index} (${step.op})`;
    if (step.expectError !== undefined) {
      await assert.rejects(runStep(store, step, feeds), (error) => {
        assert.ok(error instanceof PolystatError, `${where}: ${error}`);
        assert.equal(error.code, step.expectError.code, `${where}: ${error.message}`);
        if (step.expectError.field !== undefined) {
          assert.equal(error.field, step.expectError.field, where);
        }
        return true;
      });
      continue;
    }
    const result = await runStep(store, step, feeds);
    if ('expect' in step) {
      check(step.expect, result, where);
    }
    if (step.save !== undefined) {
      saved[step.save] = result;
    }
  }
}

for (const target of TARGETS) {
  describe(`shared cases on ${target}`, () => {
    for (const [file, table] of caseFiles()) {
      for (const testCase of table.cases) {
        test(`${file}: ${testCase.name}`, async () => {
          const store = await openTarget(target);
          try {
            await runCase(store, testCase);
          } finally {
            await store.close();
          }
        });
      }
    }
  });
}
