'use strict';
// Several "hosts" on one machine (network namespaces, see test/netns/):
// topology, every collective over real TCP, MNIST, and network faults.
// Skipped with the reason when namespaces cannot be created (not root, no ip).
const assert = require('node:assert/strict');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Topology, unavailableReason, ensurePackages } = require('../netns/topology');

const ROOT = path.resolve(__dirname, '..', '..');
const NODE = process.execPath; // the agent scrubs PATH, as sshd would
const HVD = `const hvd = require(${JSON.stringify(ROOT + '/dist')});`;

// This mocha process is itself an MPI singleton: its OMPI_*/PMIX_* variables
// would make the child mpirun believe it runs inside a job.
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));

function run(topo, np, command, opts) {
  const [cmd, args] = topo.launch(np, command, opts);
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: CLEAN_ENV, timeout: ((opts && opts.limit) || 120) * 1000 + 20000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** Starts a job in the background; resolves its exit with the time it happened. */
function start(topo, np, command, opts) {
  const [cmd, args] = topo.launch(np, command, opts);
  const child = spawn(cmd, args, { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const job = { child, out: '' };
  child.stdout.on('data', (d) => (job.out += d));
  child.stderr.on('data', (d) => (job.out += d));
  job.exit = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  job.waitFor = async (re, ms = 60000) => {
    const until = Date.now() + ms;
    while (!re.test(job.out)) {
      if (Date.now() > until) throw new Error(`never saw ${re}:\n${job.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return job;
}

// A training-like loop: an allreduce every 50 ms, for `steps` steps.
const loop = (steps) => `${HVD}
  hvd.init();
  let k = 0;
  const tick = () => {
    const s = hvd.allreduceSync(new Float32Array(4096).fill(1), { name: 'grad', op: 'sum' });
    if (s[0] !== hvd.size()) throw new Error('wrong sum ' + s[0]);
    if (hvd.rank() === 0 && k % 10 === 0) console.log('step ' + k);
    if (++k < ${steps}) setTimeout(tick, 50); else { console.log('done rank ' + hvd.rank()); hvd.shutdown(); }
  };
  tick();`;

describe('multi-host over TCP (network namespaces, 2 hosts x 2 slots)', function () {
  this.timeout(240000);
  let topo;
  before(function () {
    const why = unavailableReason();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });
  beforeEach(function () {
    topo = new Topology(2).up();
  });
  afterEach(function () {
    if (!topo) return;
    topo.down();
    assert.deepEqual(topo.leftovers(), [], 'namespaces left behind');
  });

  it('reports localRank/localSize/crossRank/crossSize per host, and traffic crosses the veths', function () {
    const b1 = topo.bytes('host1');
    const b2 = topo.bytes('host2');
    const r = run(topo, 4, [NODE, '-e', `${HVD}
      hvd.init();
      hvd.allreduceSync(new Float32Array(1 << 16), { name: 'traffic' });
      console.log('IDENT ' + JSON.stringify({ rank: hvd.rank(), host: require('os').hostname(), lr: hvd.localRank(), ls: hvd.localSize(), cr: hvd.crossRank(), cs: hvd.crossSize() }));
      hvd.shutdown();`]);
    assert.equal(r.status, 0, r.out);
    const ids = r.out.split('\n').filter((l) => l.startsWith('IDENT ')).map((l) => JSON.parse(l.slice(6)));
    assert.equal(ids.length, 4);
    for (const id of ids) {
      assert.equal(id.host, id.rank < 2 ? 'host1' : 'host2');
      assert.equal(id.lr, id.rank % 2);
      assert.equal(id.ls, 2);
      assert.equal(id.cr, Math.floor(id.rank / 2));
      assert.equal(id.cs, 2);
    }
    assert.ok(topo.bytes('host1') - b1 > 256 * 1024, 'host1 sent and received over its veth');
    assert.ok(topo.bytes('host2') - b2 > 256 * 1024, 'host2 sent and received over its veth');
  });

  it('runs the whole parallel suite correctly over TCP', function () {
    const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const files = fs.readdirSync(path.join(ROOT, 'test', 'parallel')).filter((f) => f.endsWith('.test.js')).map((f) => `test/parallel/${f}`);
    const r = run(topo, 4, [NODE, mocha, '--reporter', 'dot', '--no-color', ...files], { limit: 200 });
    assert.equal(r.status, 0, r.out.slice(-4000));
    assert.match(r.out, /\d+ passing/);
    assert.doesNotMatch(r.out, /\d+ failing/);
  });

  it('trains MNIST across hosts to the same accuracy band with identical weights', function () {
    const r = run(topo, 4, [NODE, path.join(ROOT, 'dist', 'mnist.js'), '--epochs', '1', '--train-samples', '12800', '--json'], { limit: 200 });
    assert.equal(r.status, 0, r.out.slice(-3000));
    const final = JSON.parse(r.out.split('\n').find((l) => l.startsWith('{"final"')));
    assert.ok(final.test_accuracy > 0.88, `accuracy ${final.test_accuracy}`);
    assert.equal(final.weights_consistent, true);
    assert.equal(final.ranks, 4);
  });

  it('kill -9 of one rank ends every rank within 10 s, naming it', async function () {
    const job = start(topo, 4, [NODE, '-e', loop(100000)]);
    await job.waitFor(/step 20/);
    const pids = spawnSync('ip', ['netns', 'pids', topo.ns('host2')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    const ranks = pids.filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(NODE);
      } catch {
        return false;
      }
    });
    assert.ok(ranks.length >= 1, 'found a rank on host2');
    const t0 = Date.now();
    process.kill(Number(ranks[0]), 'SIGKILL');
    const { code, at } = await job.exit;
    const s = (at - t0) / 1000;
    console.log(`      MEASURED multihost_kill9_exit_seconds=${s.toFixed(2)}`);
    assert.notEqual(code, 0);
    assert.ok(s < 10, `took ${s} s`);
    assert.match(job.out, /rank \d+ with PID \d+ on node host2 exited on signal 9|exited on signal 9/);
  });

  for (const fault of ['link down', 'partition']) {
    it(`${fault} on one host ends the job within 30 s with a clear message`, async function () {
      const job = start(topo, 4, [NODE, '-e', loop(100000)], { limit: 90 });
      await job.waitFor(/step 20/);
      const t0 = Date.now();
      if (fault === 'link down') {
        topo.onSwitch(['ip', 'link', 'set', topo.port('host2'), 'down']);
      } else {
        const ok = ensurePackages(['iptables'], () => spawnSync('sh', ['-c', 'command -v iptables']).status === 0);
        if (ok) {
          job.child.kill('SIGKILL');
          console.log(`      skipped: ${ok}`);
          this.skip();
        }
        topo.onSwitch(['iptables', '-I', 'FORWARD', '-m', 'physdev', '--physdev-in', topo.port('host2'), '-j', 'DROP']);
        topo.onSwitch(['iptables', '-I', 'FORWARD', '-m', 'physdev', '--physdev-out', topo.port('host2'), '-j', 'DROP']);
      }
      const { code, at } = await job.exit;
      const s = (at - t0) / 1000;
      console.log(`      MEASURED multihost_${fault.replace(' ', '_')}_exit_seconds=${s.toFixed(2)} (exit ${code})`);
      assert.notEqual(code, 0);
      assert.ok(s < 30, `took ${s} s`);
      assert.match(job.out, /lost communication|unable to reliably|exited on signal|ORTE/i, job.out.slice(-2000));
    });
  }

  it('survives a 5 s link flap', async function () {
    const job = start(topo, 4, [NODE, '-e', loop(300)], { limit: 120 });
    await job.waitFor(/step 20/);
    topo.onSwitch(['ip', 'link', 'set', topo.port('host2'), 'down']);
    await new Promise((r) => setTimeout(r, 5000));
    topo.onSwitch(['ip', 'link', 'set', topo.port('host2'), 'up']);
    const { code } = await job.exit;
    assert.equal(code, 0, job.out.slice(-2000));
    assert.equal((job.out.match(/done rank/g) || []).length, 4);
  });

  it('trains with 1% loss and 5 ms delay on one host\u2019s link; final weights are bitwise identical', async function () {
    const why = ensurePackages(['iptables', 'libnetfilter-queue-dev'], () =>
      spawnSync('sh', ['-c', 'command -v iptables && test -f /usr/include/libnetfilter_queue/libnetfilter_queue.h']).status === 0,
    );
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const bin = path.join(topo.dir, 'nfq_delay');
    execFileSync('gcc', ['-O2', '-o', bin, path.join(ROOT, 'test', 'netns', 'nfq_delay.c'), '-lnetfilter_queue', '-lnfnetlink']);
    const port = topo.port('host2');
    // Loss toward host2, and a 5 ms delay in both directions, at the switch.
    topo.onSwitch(['iptables', '-I', 'FORWARD', '-m', 'physdev', '--physdev-out', port, '-m', 'statistic', '--mode', 'random', '--probability', '0.01', '-j', 'DROP']);
    topo.onSwitch(['iptables', '-A', 'FORWARD', '-m', 'physdev', '--physdev-out', port, '-j', 'NFQUEUE', '--queue-num', '7', '--queue-bypass']);
    topo.onSwitch(['iptables', '-A', 'FORWARD', '-m', 'physdev', '--physdev-in', port, '-j', 'NFQUEUE', '--queue-num', '7', '--queue-bypass']);
    const delayer = spawn('ip', ['netns', 'exec', topo.ns('sw'), bin, '7', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let dout = '';
    delayer.stdout.on('data', (d) => (dout += d));
    try {
      while (!/ready/.test(dout)) await new Promise((r) => setTimeout(r, 20));
      const t0 = Date.now();
      const job = start(topo, 4, [NODE, path.join(ROOT, 'dist', 'mnist.js'), '--epochs', '1', '--train-samples', '6400', '--json'], { limit: 200 });
      const { code } = await job.exit;
      console.log(`      MEASURED multihost_loss1pct_delay5ms_mnist_seconds=${((Date.now() - t0) / 1000).toFixed(1)}`);
      assert.equal(code, 0, job.out.slice(-3000));
      const final = JSON.parse(job.out.split('\n').find((l) => l.startsWith('{"final"')));
      assert.equal(final.weights_consistent, true);
      assert.ok(final.test_accuracy > 0.85, `accuracy ${final.test_accuracy}`);
    } finally {
      delayer.kill('SIGTERM');
      await new Promise((r) => delayer.on('exit', r));
    }
    const m = dout.match(/seen=(\d+)/);
    assert.ok(m && Number(m[1]) > 100, `the delayer saw the traffic: ${dout}`);
  });
});
