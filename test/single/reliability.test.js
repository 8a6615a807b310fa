'use strict';
// Faults on one host: an exception on one rank, a stalled collective, and
// control flow that diverges. Each job runs in its own mpirun so it may die.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

function linesOf(out, rank) {
  return out.split('\n').filter((l) => l.startsWith(`[1,${rank}]`));
}

describe('reliability on one host (mpirun -np 3)', function () {
  this.timeout(120000);

  it('an exception on rank 1 fails the other ranks promptly, naming rank 1, its message and its first stack frame', function () {
    const r = runMpi(
      3,
      `${HVD}
      hvd.init();
      function step(k) {
        if (hvd.rank() === 1 && k === 5) throw new Error('boom at step ' + k);
        return hvd.allreduceSync(new Float32Array([k]), { name: 'step.' + k });
      }
      for (let k = 0; k < 1000; k++) step(k);`,
      { tagOutput: true, timeout: 60000 },
    );
    assert.notEqual(r.status, 0, 'the job must fail');
    assert.ok(r.ms < 30000, `took ${r.ms} ms`);
    for (const rank of [0, 2]) {
      const mine = linesOf(r.stdout + r.stderr, rank).join('\n');
      assert.match(mine, /HVD_ABORTED|rank 1 failed/, `rank ${rank} output:\n${mine}`);
      assert.match(mine, /rank 1 failed with an uncaught exception: Error: boom at step 5/);
      assert.match(mine, /\(at step \(\[eval\]|at step /, 'names the first frame of rank 1\'s stack');
    }
    assert.match(linesOf(r.stdout + r.stderr, 1).join('\n'), /boom at step 5/);
    console.log(`      MEASURED exception_exit_ms=${r.ms}`);
  });

  it('kill -9 of one rank mid-training ends every other rank within 10 s, and the output names the dead rank', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-kill-'));
    const code = `${HVD}
      hvd.init();
      require('fs').writeFileSync(${JSON.stringify(dir)} + '/pid.' + hvd.rank(), String(process.pid));
      let k = 0;
      const step = () => { hvd.allreduceSync(new Float32Array(1024), { name: 'grad' }); k++; setImmediate(step); };
      step();`;
    const args = ['--bind-to', 'none', '--oversubscribe', '-np', '3', process.execPath, '-e', code];
    if (process.getuid() === 0) args.unshift('--allow-run-as-root');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
    const child = spawn('mpirun', args, { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    try {
      while (!fs.existsSync(path.join(dir, 'pid.1'))) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 1500)); // mid-training
      const killedAt = Date.now();
      process.kill(Number(fs.readFileSync(path.join(dir, 'pid.1'), 'utf8')), 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      const { code } = await exited;
      clearTimeout(timer);
      const seconds = (Date.now() - killedAt) / 1000;
      console.log(`      MEASURED kill9_single_host_exit_seconds=${seconds.toFixed(2)}`);
      assert.notEqual(code, 0, 'mpirun must exit non-zero');
      assert.ok(seconds < 10, `the job took ${seconds} s to end`);
      assert.match(out, /rank 1 .*(exited on signal 9|killed)/i, out);
      // No rank outlives the job (allow a moment for the kernel to reap them).
      for (const r of [0, 2]) {
        const pid = Number(fs.readFileSync(path.join(dir, `pid.${r}`), 'utf8'));
        const alive = () => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        };
        const until = Date.now() + 5000;
        while (alive() && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
        assert.equal(alive(), false, `rank ${r} (pid ${pid}) is still running 5 s after the job ended`);
      }
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hvd.init() gives up after HVD_START_TIMEOUT naming the ranks that have not arrived, and can wait again', function () {
    const r = runMpi(
      3,
      `${HVD}
      const rank = +process.env.OMPI_COMM_WORLD_RANK;
      setTimeout(() => {
        let errors = 0;
        for (;;) {
          try { hvd.init(); break; } catch (e) { if (errors++ === 0) console.log('rank ' + rank + ' ' + e.code + ': ' + e.message); }
        }
        console.log('rank ' + rank + ' joined a world of ' + hvd.size());
        hvd.shutdown();
      }, rank === 2 ? 3000 : 0);`,
      { env: { HVD_START_TIMEOUT: '1' }, timeout: 60000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /rank 0 HVD_START_TIMEOUT: hvd\.init\(\) gave up after 1 s .*not reached hvd\.init\(\) on this host \([^)]*\): 2 /);
    assert.equal((r.stdout.match(/joined a world of 3/g) || []).length, 3);
  });

  it('a stalled collective is reported on rank 0 after HOROVOD_STALL_CHECK_TIME_SECONDS and failed after the shutdown time', function () {
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      const t0 = Date.now();
      if (hvd.rank() === 0) {
        hvd.allreduce(new Float32Array(4), { name: 'skipped.by.rank1' }).then(
          () => console.log('unexpected success'),
          (e) => { console.log('rejected after ' + (Date.now() - t0) + ' ms: ' + e.code + ': ' + e.message); hvd.shutdown(); });
      } else {
        setTimeout(() => hvd.shutdown(), 6000);
      }`,
      { env: { HOROVOD_STALL_CHECK_TIME_SECONDS: '1', HOROVOD_STALL_SHUTDOWN_TIME_SECONDS: '3' }, timeout: 60000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /Stall detected/);
    assert.match(r.stderr, /allreduce 'skipped\.by\.rank1' float32\[4\].*missing ranks: 1/);
    const m = r.stdout.match(/rejected after (\d+) ms: HVD_ABORTED: (.*)/);
    assert.ok(m, r.stdout);
    assert.ok(+m[1] >= 2500 && +m[1] < 15000, `failed after ${m[1]} ms`);
    console.log(`      MEASURED stall_shutdown_ms=${m[1]} (HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=3)`);
    assert.match(m[2], /stalled .* rank\(s\) 1 never submitted it.*HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=3/);
  });

  it('HVD_CHECK_DIVERGENCE reports the first diverging collective on every rank, with both signatures, at once', function () {
    const r = runMpi(
      2,
      `${HVD}
      hvd.init();
      const t0 = Date.now();
      hvd.allreduceSync(new Float32Array(2), { name: 'same' });
      const p = hvd.rank() === 0
        ? hvd.allreduce(new Float32Array(3), { name: 'only.rank0' })
        : hvd.allgather(new Int32Array(5), { name: 'only.rank1' });
      p.then(() => console.log('unexpected success'), (e) => {
        console.log('rank ' + hvd.rank() + ' after ' + (Date.now() - t0) + ' ms: ' + e.code + ': ' + e.message);
        hvd.shutdown();
      });`,
      { env: { HVD_CHECK_DIVERGENCE: '1' }, timeout: 60000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const rank of [0, 1]) {
      const m = r.stdout.match(new RegExp(`rank ${rank} after (\\d+) ms: HVD_ABORTED: (.*)`));
      assert.ok(m, r.stdout);
      assert.ok(+m[1] < 5000, `detected after ${m[1]} ms`);
      console.log(`      MEASURED divergence_detected_ms=${m[1]} (rank ${rank})`);
      assert.match(m[2], /diverged between ranks at collective #2: rank 0 submitted allreduce 'only\.rank0' float32\[3\].* but rank 1 submitted allgather 'only\.rank1' int32\[5\]/);
    }
  });
});
