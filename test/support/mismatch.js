'use strict';
// The check every mismatch test makes: the call fails on every rank with
// HVD_MISMATCH and the same message naming the tensor, the ranks and what
// differs, and the next collective works.
const assert = require('node:assert/strict');
const hvd = require('../..');

async function expectMismatchEverywhere(run, name, pattern) {
  let err;
  try {
    await run();
  } catch (e) {
    err = e;
  }
  // Gather what each rank saw, so a rank that did NOT fail is reported too.
  const seen = hvd.allgatherObjectSync(err ? { code: err.code, message: err.message } : null, { name: `seen.${name}` });
  if (hvd.size() === 1) {
    // In a world of one there is nobody to disagree with.
    assert.equal(err, undefined, `unexpected error: ${err && err.message}`);
    return;
  }
  for (let r = 0; r < hvd.size(); r++) {
    assert.ok(seen[r], `rank ${r} did not fail`);
    assert.equal(seen[r].code, 'HVD_MISMATCH');
    assert.equal(seen[r].message, seen[0].message, 'every rank reports the same message');
  }
  assert.ok(err instanceof hvd.HorovodError);
  assert.match(err.message, new RegExp(`'${name}'`), 'names the tensor');
  assert.match(err.message, /rank/, 'names the ranks');
  assert.match(err.message, pattern);
  // The process is still usable.
  const ok = hvd.allreduceSync(new Float32Array([1]), { op: 'sum', name: `after.${name}` });
  assert.equal(ok[0], hvd.size());
}

module.exports = { expectMismatchEverywhere };
