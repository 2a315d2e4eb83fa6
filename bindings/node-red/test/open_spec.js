'use strict';

// The Store.open options that a polystat-store node builds from its fields
// and credentials. Opening a server store needs a server, so these checks
// stop at the options; the node suites open real SQLite stores.

const assert = require('assert');
const { buildOpenOptions } = require('../nodes/lib/open');

function configurationErrorOf(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a CONFIGURATION error');
}

describe('polystat-store open options', function () {
  it('leaves empty fields out', function () {
    assert.deepStrictEqual(buildOpenOptions({ relationalUrl: '', documentsUrl: ' ', cacheUrl: '', dataRoot: '' }, {}), {});
  });

  it('inserts encoded passwords into URLs', function () {
    const options = buildOpenOptions(
      {
        relationalUrl: 'postgres://polystat@127.0.0.1:5432/app?options[search_path]=tenant',
        documentsUrl: 'mongodb://polystat@127.0.0.1:27017/app',
        cacheUrl: 'redis://127.0.0.1:6379/?prefix=app:',
      },
      { relationalPassword: 'p@ss:w/rd', documentsPassword: 'two words', cachePassword: 'secret' },
    );
    assert.strictEqual(options.relationalUrl, 'postgres://polystat:p%40ss%3Aw%2Frd@127.0.0.1:5432/app?options[search_path]=tenant');
    assert.strictEqual(options.documentsUrl, 'mongodb://polystat:two%20words@127.0.0.1:27017/app');
    assert.strictEqual(options.cacheUrl, 'redis://:secret@127.0.0.1:6379/?prefix=app:');
  });

  it('passes the master key and data root', function () {
    const options = buildOpenOptions({ dataRoot: ' /srv/data ' }, { masterKey: 'a2V5' });
    assert.deepStrictEqual(options, { masterKey: 'a2V5', dataRoot: '/srv/data' });
  });

  it('rejects a password in a URL', function () {
    const err = configurationErrorOf(() => buildOpenOptions({ cacheUrl: 'redis://:secret@127.0.0.1:6379/' }, {}));
    assert.strictEqual(err.code, 'CONFIGURATION');
    assert.strictEqual(err.field, 'cacheUrl');
    assert.ok(!err.message.includes('secret'), err.message);
  });

  it('rejects a password without URL', function () {
    const err = configurationErrorOf(() => buildOpenOptions({ documentsUrl: '' }, { documentsPassword: 'secret' }));
    assert.strictEqual(err.code, 'CONFIGURATION');
    assert.strictEqual(err.field, 'documentsUrl');
  });

  it('rejects a password for memory', function () {
    const err = configurationErrorOf(() => buildOpenOptions({ cacheUrl: 'memory' }, { cachePassword: 'secret' }));
    assert.strictEqual(err.code, 'CONFIGURATION');
    assert.match(err.message, /takes no password/);
  });

  it('rejects an unset environment variable', function () {
    const err = configurationErrorOf(() => buildOpenOptions({ relationalUrl: '${POLYSTAT_NOT_SET}' }, {}));
    assert.strictEqual(err.code, 'CONFIGURATION');
    assert.match(err.message, /POLYSTAT_NOT_SET/);
  });
});
