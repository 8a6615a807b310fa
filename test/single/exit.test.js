'use strict';
// Leaving the job without hvd.shutdown() (issue 8, item 3): process.exit(),
// falling off the end of the script and uncaught exceptions must finalize
// MPI, so mpirun exits with the ranks' own codes instead of 1 and its
// "exited improperly ... did not call finalize" banner. A rank that exits
// early makes the others' collectives fail with HVD_SHUT_DOWN naming it.
const assert = require('node:assert/strict');
const { runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;
const BANNER = /exited improperly|did not call "?finalize|exiting improperly/;

function output(r) {
  return `status ${r.status} signal ${r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

describe('exit without hvd.shutdown() under mpirun', function () {
  this.timeout(120000);

  for (const np of [1, 2, 3]) {
    it(`np=${np}: process.exit(0) after collectives exits 0, without the "did not call finalize" banner`, function () {
      const r = runMpi(np, `${HVD}
        hvd.init();
        const s = hvd.allreduceSync(new Int32Array([1]), { op: 'sum' });
        hvd.allgatherSync(new Float32Array(100000));
        console.log('sum ' + s[0]);
        process.exit(0);`);
      assert.equal(r.status, 0, output(r));
      assert.doesNotMatch(r.stdout + r.stderr, BANNER, output(r));
      assert.equal((r.stdout.match(new RegExp(`sum ${np}\\b`, 'g')) || []).length, np, output(r));
    });
  }

  for (const np of [2, 3]) {
    it(`np=${np}: process.exit(0) on rank 1 mid-job fails the others' Sync and Promise collectives with HVD_SHUT_DOWN naming rank 1; all exit 0`, function () {
      const r = runMpi(np, `${HVD}
        hvd.init();
        hvd.barrierSync();
        if (hvd.rank() === 1) process.exit(0);
        try { hvd.allreduceSync(new Float32Array(4), { name: 'after.exit.sync' }); console.log('rank ' + hvd.rank() + ' unexpected success'); }
        catch (e) { console.log('rank ' + hvd.rank() + ' sync ' + e.code + ': ' + e.message); }
        hvd.allgather(new Float32Array(4), { name: 'after.exit.promise' }).then(
          () => console.log('rank ' + hvd.rank() + ' unexpected success'),
          (e) => { console.log('rank ' + hvd.rank() + ' promise ' + e.code + ': ' + e.message); process.exit(0); });`);
      assert.equal(r.status, 0, output(r));
      assert.doesNotMatch(r.stdout + r.stderr, BANNER, output(r));
      for (let k = 0; k < np; k++) {
        if (k === 1) continue;
        assert.match(r.stdout, new RegExp(`rank ${k} sync HVD_SHUT_DOWN: .*'after\\.exit\\.sync'.*rank 1 shut down`), output(r));
        assert.match(r.stdout, new RegExp(`rank ${k} promise HVD_SHUT_DOWN: .*'after\\.exit\\.promise'.*rank 1 shut down`), output(r));
      }
    });

    it(`np=${np}: an uncaught HVD_SHUT_DOWN after a rank's process.exit(0) ends the job non-zero, naming the rank, without the banner`, function () {
      const r = runMpi(np, `${HVD}
        hvd.init();
        if (hvd.rank() === 1) process.exit(0);
        hvd.allreduceSync(new Float32Array(4), { name: 'uncaught' });`);
      assert.notEqual(r.status, 0, output(r));
      assert.doesNotMatch(r.stdout + r.stderr, BANNER, output(r));
      assert.match(r.stderr, /HVD_SHUT_DOWN/, output(r));
      assert.match(r.stderr, /'uncaught'.*rank 1 shut down/, output(r));
    });

    it(`np=${np}: an uncaught exception on rank 1 ends the job non-zero with every rank finalized (no banner)`, function () {
      const r = runMpi(np, `${HVD}
        hvd.init();
        for (let k = 0; k < 100; k++) {
          if (hvd.rank() === 1 && k === 5) throw new Error('boom at ' + k);
          hvd.allreduceSync(new Float32Array([k]), { name: 'step.' + k });
        }`);
      assert.notEqual(r.status, 0, output(r));
      assert.doesNotMatch(r.stdout + r.stderr, BANNER, output(r));
      assert.match(r.stderr, /Error: boom at 5/);
      assert.match(r.stderr, /rank 1 failed with an uncaught exception: Error: boom at 5/);
    });
  }

  it('np=2: a crashing rank waits at most HVD_EXIT_TIMEOUT_SECONDS for a busy peer, then exits with its code', function () {
    const r = runMpi(2, `${HVD}
      hvd.init();
      hvd.barrierSync();
      if (hvd.rank() === 1) { process.exitCode = 3; throw new Error('crash'); }
      setTimeout(() => console.log('rank 0 still busy'), 60000); // never reaches a collective`,
      { env: { HVD_EXIT_TIMEOUT_SECONDS: '2' }, timeout: 60000 });
    assert.notEqual(r.status, 0, output(r));
    assert.ok(r.ms < 40000, `the job took ${r.ms} ms`);
    assert.match(r.stderr, /\[hvd rank 1\] the other ranks did not shut down within 2\.0 s .*HVD_EXIT_TIMEOUT_SECONDS.*exiting with code \d+ without MPI_Finalize/, output(r));
    assert.doesNotMatch(r.stdout, /rank 0 still busy/);
  });
});
