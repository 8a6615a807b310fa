'use strict';
// The README's API section is the reference users read: every public export
// must be in its table, and what it says about accepted types must be true.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const hvd = require('../..');
const { loadNative } = require('../../dist/native');
const { ROOT } = require('../support/util');

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const api = readme.slice(readme.indexOf('\n## API'), readme.indexOf('\n## ', readme.indexOf('\n## API') + 5));

describe('README API section', function () {
  it('the table names every runtime export of hvd and of hvd.data', function () {
    const missing = [];
    for (const name of Object.keys(hvd)) {
      if (name === 'data' || name === 'default') continue;
      if (!new RegExp(`\`[^\`]*\\b${name}\\b[^\`]*\``).test(api)) missing.push(name);
    }
    for (const name of Object.keys(hvd.data)) {
      if (!new RegExp(`\`[^\`]*\\bdata\\.${name}\\b[^\`]*\``).test(api) && !new RegExp(`data\\.[^|]*\\b${name}\\b`).test(api)) missing.push(`data.${name}`);
    }
    assert.deepEqual(missing, [], 'exports missing from the README API table');
  });

  it('says that SharedArrayBuffer-backed arrays are rejected, as they are', function () {
    assert.match(api, /SharedArrayBuffer/);
    hvd.init();
    assert.throws(() => hvd.allreduceSync(new Float32Array(new SharedArrayBuffer(8))), (e) => e instanceof TypeError && /^allreduceSync: tensor is backed by a SharedArrayBuffer/.test(e.message));
  });
});

describe('native binding surface', function () {
  it('has no method that nothing calls (isShutDown was removed)', function () {
    const b = loadNative();
    assert.equal(typeof b.isShutDown, 'undefined');
    assert.equal(typeof b.isInitialized, 'function');
  });
});
