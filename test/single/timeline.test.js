'use strict';
// HOROVOD_TIMELINE writes a Chrome trace that parses as JSON, also when the
// job is interrupted.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runMpi } = require('../support/util');
const { writers, killTimelineJob } = require('../support/timeline_job');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

describe('timeline (HOROVOD_TIMELINE)', function () {
  this.timeout(120000);
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-tl-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('records queue, negotiation, fusion copies, the collective with its algorithm, and callbacks', function () {
    const file = path.join(dir, 'trace.json');
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      hvd.allreduceSync(new Float32Array(1024), { name: 'grad/w' });
      hvd.allreduceSync(new Float32Array(2), { name: 'tiny' });
      require(${JSON.stringify(require.resolve('../../dist/collectives/allreduce'))}).groupedAllreduceUnpackedSync([new Float32Array(8), new Float32Array(8)], { name: 'grads' });
      hvd.allgatherSync(new Int32Array(hvd.rank() + 1), { name: 'gathered' });
      hvd.broadcastSync(new Float64Array(3), 0, { name: 'bcast' });
      hvd.barrierSync({ name: 'fence' });
      hvd.shutdown();`,
      // Eager calls only up to 16 bytes: 'tiny' is one, the rest run collectives.
      { env: { HOROVOD_TIMELINE: file, HOROVOD_TIMELINE_MARK_CYCLES: '1', HVD_EAGER_BYTES: '16' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(writers(), [], 'hvd.shutdown() waits for the trace writer');
    const events = JSON.parse(fs.readFileSync(file, 'utf8'));
    const lanes = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
    const on = (tensor, phase) => events.filter((e) => e.ph === 'X' && e.name === phase && lanes.get(e.tid) === tensor);
    for (const phase of ['QUEUE', 'NEGOTIATE', 'ALLREDUCE', 'CALLBACK']) assert.equal(on('grad/w', phase).length, 1, phase);
    const ar = on('grad/w', 'ALLREDUCE')[0];
    assert.equal(ar.args.bytes, 4096);
    assert.ok(['mpi', 'ring'].includes(ar.args.algorithm));
    assert.equal(on('tiny', 'ALLREDUCE')[0].args.algorithm, 'eager');
    assert.equal(on('grads.0', 'MEMCPY_IN_FUSION_BUFFER').length, 1);
    assert.equal(on('grads.1', 'SCALE_IN_OUTPUT_BUFFER').length, 1, 'grouped outputs share a buffer: no copy out');
    assert.equal(on('grads.0', 'ALLREDUCE')[0].args.tensors, 2);
    assert.equal(on('gathered', 'ALLGATHER').length, 1);
    assert.equal(on('bcast', 'BROADCAST').length, 1);
    assert.equal(on('fence', 'BARRIER').length, 1);
    assert.ok(events.some((e) => e.name === 'CYCLE_START'), 'HOROVOD_TIMELINE_MARK_CYCLES marks cycles');
    for (const e of events.filter((x) => x.ph === 'X')) assert.ok(e.ts >= 0 && e.dur >= 0);
  });

  it('a path that cannot be written is logged and the job runs on without a trace', function () {
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      const out = hvd.allreduceSync(new Float32Array([1, 2]), { op: 'sum' });
      if (out[0] !== 2 || out[1] !== 4) throw new Error('bad sum ' + out);
      hvd.shutdown();`,
      { env: { HOROVOD_TIMELINE: dir } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /HOROVOD_TIMELINE: cannot open '.*' for writing/);
    assert.deepEqual(writers(), []);
  });

  it('without the hvd-timeline program beside the addon, rank 0 writes the trace itself and says so', function () {
    const file = path.join(dir, 'trace.json');
    const lone = path.join(dir, 'hvd.node');
    fs.copyFileSync(path.join(__dirname, '..', '..', 'build', 'Release', 'hvd.node'), lone);
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      for (let i = 0; i < 20; i++) hvd.allreduceSync(new Float32Array(256), { name: 'g' + (i % 3) });
      hvd.shutdown();`,
      { env: { HOROVOD_TIMELINE: file, HVD_NATIVE_PATH: lone } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /cannot start the trace writer '.*hvd-timeline'.*rank 0 writes the trace itself/);
    const events = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(events.filter((e) => e.name === 'ALLREDUCE').length, 20);
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL']) {
    it(`stays valid JSON when the job is interrupted with ${signal}`, async function () {
      const { started, writersLeft, text } = await killTimelineJob({
        dir,
        signal,
        delayMs: 1500,
        beforeKill: ({ rank0 }) => {
          // The writer is a process of its own, not a fork of the rank: it
          // holds a few MB, not a copy-on-write share of the rank's memory.
          const running = writers();
          assert.equal(running.length, 1, 'one trace writer while the job runs');
          const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
          assert.ok(rssKb(running[0]) < 16 * 1024 && rssKb(rank0) > 4 * rssKb(running[0]), `writer ${rssKb(running[0])} kB, rank 0 ${rssKb(rank0)} kB`);
        },
      });
      assert.ok(started, 'the job did not get going within 60 s');
      // The writer (native/timeline_writer.h) must not outlive the job.
      assert.deepEqual(writersLeft, [], 'the trace writer outlived the job');
      const events = JSON.parse(text);
      assert.ok(events.filter((e) => e.name === 'ALLREDUCE').length > 10, 'the trace has the work done before the signal');
    });
  }
});
