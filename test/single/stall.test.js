'use strict';
// The stall warning (issue 8, item 7): a collective one rank skipped is
// reported on rank 0, the first report says once how to end the wait, and
// the repeats back off (the interval doubles) instead of printing the same
// lines every check interval forever. Counts, not timings, are asserted:
// the doubling bounds the number of reports however slow the machine is.
const assert = require('node:assert/strict');
const { runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

for (const np of [2, 3]) {
  describe(`stall warning (mpirun -np ${np})`, function () {
    this.timeout(120000);

    it('reports a skipped collective with the missing rank, says once how to end it, and backs off', function () {
      // Rank 1 skips 'skipped.by.rank1' and shuts down after 3.5 s; with a
      // 0.25 s check time, reports come at about 0.25, 0.5, 1 and 2 s (then
      // 4 s): at most 4 in 3.5 s, where a fixed interval printed 13 or more.
      const r = runMpi(
        np,
        `${HVD}
        hvd.init();
        if (hvd.rank() !== 1) {
          hvd.allreduce(new Float32Array(4), { name: 'skipped.by.rank1' }).then(
            () => console.log('unexpected success'),
            (e) => { console.log('rank ' + hvd.rank() + ' rejected: ' + e.code + ': ' + e.message); hvd.shutdown(); });
        } else {
          setTimeout(() => hvd.shutdown(), 3500);
        }`,
        { env: { HOROVOD_STALL_CHECK_TIME_SECONDS: '0.25' }, timeout: 90000 },
      );
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const reports = (r.stderr.match(/Stall detected/g) || []).length;
      const hints = (r.stderr.match(/set HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=<seconds>/g) || []).length;
      console.log(`      MEASURED stall_reports=${reports} in 3.5 s (HOROVOD_STALL_CHECK_TIME_SECONDS=0.25)`);
      assert.match(r.stderr, /allreduce 'skipped\.by\.rank1' float32\[4\].*missing ranks: 1\b/);
      assert.equal(hints, 1, `the how-to-end-it hint must be printed exactly once:\n${r.stderr}`);
      assert.ok(reports >= 2 && reports <= 5, `expected 2-5 backed-off reports in 3.5 s, got ${reports}:\n${r.stderr}`);
      assert.match(r.stderr, /Next report in 0\.5 s/, 'the second report comes after twice the check time');
      assert.equal((r.stdout.match(/rejected: HVD_SHUT_DOWN: .*rank 1 shut down/g) || []).length, np - 1, r.stdout);
    });
  });
}

describe('stall warning with HOROVOD_STALL_SHUTDOWN_TIME_SECONDS set (mpirun -np 2)', function () {
  this.timeout(120000);
  it('the first report says when the collective will be failed instead', function () {
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      if (hvd.rank() === 0) {
        hvd.allreduce(new Float32Array(4), { name: 'skipped' }).then(() => console.log('unexpected success'),
          (e) => { console.log('rejected: ' + e.code); hvd.shutdown(); });
      } else {
        setTimeout(() => hvd.shutdown(), 3000);
      }`,
      { env: { HOROVOD_STALL_CHECK_TIME_SECONDS: '0.5', HOROVOD_STALL_SHUTDOWN_TIME_SECONDS: '1.5' }, timeout: 60000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /will be failed on every rank once stalled for 1\.5 s \(HOROVOD_STALL_SHUTDOWN_TIME_SECONDS\)/);
    assert.doesNotMatch(r.stderr, /set HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=<seconds>/);
    assert.match(r.stdout, /rejected: HVD_ABORTED/);
  });
});

describe('stall warning in a process set (mpirun -np 3)', function () {
  this.timeout(120000);
  it('names the set and the missing rank, and backs off per set', function () {
    // Set {0,1}: rank 1 skips 'ps.skipped'; rank 2 is not a member.
    const r = runMpi(
      3,
      `${HVD}
      hvd.init();
      const ps = hvd.addProcessSet([0, 1]);
      if (hvd.rank() === 0) {
        hvd.allreduce(new Float32Array(4), { name: 'ps.skipped', processSet: ps }).then(
          () => console.log('unexpected success'),
          (e) => { console.log('rejected: ' + e.code); hvd.shutdown(); });
      } else {
        setTimeout(() => hvd.shutdown(), 3500);
      }`,
      { env: { HOROVOD_STALL_CHECK_TIME_SECONDS: '0.25' }, timeout: 90000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const reports = (r.stderr.match(/Stall detected/g) || []).length;
    assert.match(r.stderr, /process set 1: allreduce 'ps\.skipped' float32\[4\].*missing ranks \(in the set\): 1\b/);
    assert.ok(reports >= 2 && reports <= 5, `expected 2-5 backed-off reports in 3.5 s, got ${reports}:\n${r.stderr}`);
    assert.match(r.stderr, /Next report in 0\.5 s/);
  });
});
