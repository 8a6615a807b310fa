'use strict';
// Engine errors are constructed as HorovodError by the addon itself
// (setErrorConstructor), not rewrapped afterwards.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadNative } = require('../../dist/native');

describe('native errors', function () {
  it('the addon throws HorovodError instances with their code', function () {
    hvd.init();
    const b = loadNative();
    let err;
    try {
      // Straight to the binding, past every TypeScript wrapper: a process set that does not exist.
      b.enqueue(0, [{ name: 'x', input: new Float32Array(1), output: new Float32Array(1), dtype: 8, shape: [1] }], { processSet: 12345 }, true);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof hvd.HorovodError, `got ${err && err.constructor && err.constructor.name}`);
    assert.equal(err.code, 'HVD_INVALID_ARGUMENT');
    assert.match(err.message, /process set 12345 does not exist/);
  });
});
