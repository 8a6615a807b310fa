'use strict';
// init/shutdown semantics, exercised in fresh child processes because init
// happens once per process.
const assert = require('node:assert/strict');
const { runNode, runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

describe('lifecycle (child processes)', function () {
  this.timeout(120000);

  it('a collective or rank() before init() throws an Error that says to call hvd.init()', function () {
    const r = runNode(`${HVD}
      const out = [];
      for (const f of [() => hvd.allreduceSync(new Float32Array(1)), () => hvd.allreduce(new Float32Array(1)), () => hvd.rank(), () => hvd.size(), () => hvd.barrierSync()]) {
        try { f(); out.push('no error'); } catch (e) { out.push(e.code + ' ' + /hvd\\.init\\(\\)/.test(e.message) + ' ' + (e instanceof hvd.HorovodError)); }
      }
      console.log(JSON.stringify(out));`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), Array(5).fill('HVD_NOT_INITIALIZED true true'));
  });

  it('init() is idempotent, a plain run is a world of size 1, shutdown() is idempotent', function () {
    const r = runNode(`${HVD}
      hvd.init(); hvd.init();
      const a = [hvd.isInitialized(), hvd.size(), hvd.rank(), hvd.localRank(), hvd.localSize(), hvd.crossRank(), hvd.crossSize()];
      const avg = hvd.allreduceSync(new Float32Array([3, 5]));
      hvd.shutdown(); hvd.shutdown();
      console.log(JSON.stringify({ a, avg: Array.from(avg), after: hvd.isInitialized() }));`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { a: [true, 1, 0, 0, 1, 0, 1], avg: [3, 5], after: false });
  });

  it('collectives and init() after shutdown() fail with HVD_SHUT_DOWN', function () {
    const r = runNode(`${HVD}
      hvd.init(); hvd.shutdown();
      const out = [];
      for (const f of [() => hvd.allreduceSync(new Float32Array(1)), () => hvd.allgather(new Float32Array(1)), () => hvd.broadcastSync(new Float32Array(1), 0), () => hvd.init()]) {
        try { f(); out.push('no error'); } catch (e) { out.push(e.code); }
      }
      console.log(JSON.stringify(out));`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['HVD_SHUT_DOWN', 'HVD_SHUT_DOWN', 'HVD_SHUT_DOWN', 'HVD_SHUT_DOWN']);
  });

  it('a script whose Promises have settled exits without calling shutdown()', function () {
    const r = runNode(`${HVD}
      hvd.init();
      (async () => { const x = await hvd.allreduce(new Float32Array([1])); await hvd.barrier(); console.log('done', x[0]); })();`, { timeout: 30000 });
    assert.equal(r.signal, null, 'the process had to be killed: something kept it alive');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /done 1/);
  });

  it('process.exit() without shutdown() neither hangs nor crashes', function () {
    const r = runNode(`${HVD}
      hvd.init(); hvd.allreduceSync(new Float32Array([1])); setTimeout(() => process.exit(0), 10);`, { timeout: 30000 });
    assert.equal(r.signal, null);
    assert.equal(r.status, 0, r.stderr);
  });

  it('under mpirun: a rank that shuts down fails the other ranks\u2019 pending collectives with a clear error', function () {
    const r = runMpi(2, `${HVD}
      hvd.init();
      if (hvd.rank() === 1) {
        hvd.shutdown();
        console.log('rank1 shut down');
      } else {
        hvd.allreduce(new Float32Array([1]), { name: 'orphan' }).then(
          () => console.log('rank0 unexpected success'),
          (e) => { console.log('rank0 ' + e.code + ' ' + e.message); hvd.shutdown(); });
      }`);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /rank0 HVD_SHUT_DOWN .*'orphan'.*rank 1 shut down/);
  });

  it('under mpirun: shutdown() with a Promise in flight rejects it with HVD_SHUT_DOWN', function () {
    // 8 KiB: past HVD_EAGER_BYTES, so negotiated (the direct path's case is the next test).
    const r = runMpi(2, `${HVD}
      hvd.init();
      const x = new Float32Array(2048).fill(1);
      if (hvd.rank() === 0) {
        const p = hvd.allreduce(x, { name: 'inflight' });
        p.then(() => console.log('rank0 unexpected success'), (e) => console.log('rank0 rejected ' + e.code));
        hvd.shutdown();
        console.log('rank0 shut down');
      } else {
        setTimeout(() => {
          hvd.allreduce(x, { name: 'inflight' }).then(() => console.log('rank1 unexpected success'),
            (e) => { console.log('rank1 rejected ' + e.code); hvd.shutdown(); });
        }, 300);
      }`);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /rank0 rejected HVD_SHUT_DOWN/);
    assert.match(r.stdout, /rank1 rejected HVD_SHUT_DOWN/);
  });

  it('under mpirun: a small call sent direct before shutdown() ends alike on every rank', function () {
    // Sent direct, its data already reached the peer, which may complete
    // the call with it at once: so it completes wherever the others submit
    // it (here: both ranks, with the sum), and fails on every rank when one
    // of them shuts down without it (the test before the last).
    const r = runMpi(2, `${HVD}
      hvd.init();
      if (hvd.rank() === 0) {
        const p = hvd.allreduce(new Float32Array([1]), { name: 'inflight', op: 'sum' });
        p.then((v) => console.log('rank0 got ' + v[0]), (e) => console.log('rank0 rejected ' + e.code));
        hvd.shutdown();
        console.log('rank0 shut down');
      } else {
        setTimeout(() => {
          hvd.allreduce(new Float32Array([2]), { name: 'inflight', op: 'sum' }).then((v) => { console.log('rank1 got ' + v[0]); hvd.shutdown(); },
            (e) => { console.log('rank1 rejected ' + e.code); hvd.shutdown(); });
        }, 300);
      }`);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /rank0 got 3/);
    assert.match(r.stdout, /rank1 got 3/);
  });

  it('under mpirun: init() leaves the environment as it found it (Open MPI eager limit set for its own MPI_Init only)', function () {
    const code = `${HVD}
      hvd.init();
      const r = hvd.allreduceSync(new Float32Array(1024).fill(1), { op: 'sum', name: 'four.kib' });
      console.log(hvd.rank() + ' env=' + process.env.OMPI_MCA_btl_vader_eager_limit + ' sum=' + r[1023] + ' direct=' + hvd.engineStats().directAllreduces);
      hvd.shutdown();`;
    const plain = runMpi(2, code);
    assert.equal(plain.status, 0, plain.stderr + plain.stdout);
    assert.match(plain.stdout, /0 env=undefined sum=2 direct=1/);
    assert.match(plain.stdout, /1 env=undefined sum=2 direct=1/);
    // A value the user set is theirs: left in place (and used by Open MPI).
    const set = runMpi(2, code, { env: { OMPI_MCA_btl_vader_eager_limit: '4096' } });
    assert.equal(set.status, 0, set.stderr + set.stdout);
    assert.match(set.stdout, /0 env=4096 sum=2 direct=1/);
    assert.match(set.stdout, /1 env=4096 sum=2 direct=1/);
  });

  it('under mpirun: ranks that exit without shutdown() leave cleanly', function () {
    const r = runMpi(3, `${HVD}
      hvd.init();
      const s = hvd.allreduceSync(new Int32Array([hvd.rank()]), { op: 'sum' });
      console.log('sum ' + s[0]);`);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal((r.stdout.match(/sum 3/g) || []).length, 3);
  });
});
