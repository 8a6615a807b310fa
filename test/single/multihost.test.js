'use strict';
// hvd across several "hosts": network namespaces on this machine, joined by a
// bridge, with mpirun in a launcher namespace reaching them through an rsh
// agent (test/multihost/). Ranks on different hosts talk TCP over veth pairs.
// Every test gets a fresh topology and deletes it afterwards (killing every
// process in it first), and checks that nothing is left.
//
// Skipped, with the reason printed, where namespaces cannot be created (not
// root, no `ip netns`). The impairment tests also need iptables, gcc and
// libnetfilter-queue-dev, which they install with apt-get when missing, and
// are skipped (with the reason) only if that fails.
//
// Lines "MEASURED name=value" record the times for the README.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { Topology, unavailableReason, listNamespaces } = require('../multihost/netns');
const { runJob, runJobToEnd, rankLines, tail, ROOT } = require('../multihost/run');
const impair = require('../multihost/impair');

const NODE = process.execPath; // absolute: the agent scrubs PATH, as sshd would
const HOSTS = 2;
const SLOTS = 2;
const NP = HOSTS * SLOTS;
// Namespace names of this run start with RUN_PREFIX (unique per process), so
// parallel runs on one machine do not collide and leftovers are easy to spot.
const RUN_PREFIX = `hvdmh${process.pid.toString(36)}${require('node:crypto').randomBytes(2).toString('hex')}`;
let topoCount = 0;

function measured(name, value) {
  console.log(`      MEASURED ${name}=${value}`);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** True while the process exists and is not a zombie. */
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The final JSON line of dist/mnist.js --json. */
function finalJson(out) {
  const lines = out.split('\n').filter((l) => l.startsWith('{') && l.includes('"final":true'));
  assert.equal(lines.length, 1, `expected one final JSON line:\n${tail(out)}`);
  return JSON.parse(lines[0]);
}

// A training-like loop, written to a file (the agent passes commands through
// a shell, so scripts are files, not -e strings). Every step allreduces
// `size` floats filled with rank+1 and checks the exact sum, sleeps `sleepMs`,
// and records the longest gap between steps. Each rank writes its PID to
// DIR/pid.RANK and prints "step K" (rank 0, every 10 steps) and a final
// "done {json}" line.
const LOOP_JS = `'use strict';
const fs = require('fs');
const hvd = require(${JSON.stringify(ROOT + '/dist')});
const [dir, steps, size, sleepMs] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
hvd.init();
const rank = hvd.rank(), n = hvd.size();
fs.writeFileSync(dir + '/pid.' + rank, String(process.pid));
const want = (n * (n + 1)) / 2;
let k = 0, last = Date.now(), maxGapMs = 0, bad = 0;
const t0 = Date.now();
function step() {
  const out = hvd.allreduceSync(new Float32Array(size).fill(rank + 1), { op: 'sum', name: 'grad' });
  for (let i = 0; i < out.length; i++) if (out[i] !== want) { bad++; break; }
  const now = Date.now();
  maxGapMs = Math.max(maxGapMs, now - last);
  last = now;
  k++;
  if (rank === 0 && k % 10 === 0) console.log('step ' + k);
  if (k < steps) setTimeout(step, sleepMs);
  else {
    console.log('done ' + JSON.stringify({ rank, steps: k, bad, maxGapMs, ms: Date.now() - t0 }));
    hvd.shutdown();
  }
}
step();
`;

const IDENT_JS = `'use strict';
const os = require('os');
const hvd = require(${JSON.stringify(ROOT + '/dist')});
hvd.init();
// 4 MiB per rank, so the cross-host traffic is well above background noise.
const sum = hvd.allreduceSync(new Float32Array(1 << 20).fill(hvd.rank() + 1), { op: 'sum', name: 'ident' });
const ranks = hvd.allgatherSync(new Int32Array([hvd.rank()]), { name: 'ident.ranks' });
const root = hvd.broadcastSync(new Int32Array([hvd.rank() === 0 ? 4242 : -1]), 0, { name: 'ident.bcast' });
console.log('IDENT ' + JSON.stringify({
  hostname: os.hostname(), rank: hvd.rank(), size: hvd.size(),
  localRank: hvd.localRank(), localSize: hvd.localSize(),
  crossRank: hvd.crossRank(), crossSize: hvd.crossSize(),
  sum0: sum[0], sumLast: sum[sum.length - 1], gathered: Array.from(ranks), bcast: root[0],
  forwarded: process.env.HVD_MH_FORWARDED || null,
}));
hvd.shutdown();
`;

describe('multi-host: 2 hosts x 2 slots in network namespaces, over TCP', function () {
  this.timeout(180000);
  let topo;
  let scripts;

  before(function () {
    const why = unavailableReason();
    if (why) {
      console.log(`      SKIPPED multi-host tests: ${why}`);
      this.skip();
    }
  });

  beforeEach(function () {
    topo = new Topology({ hosts: HOSTS, slots: SLOTS, prefix: `${RUN_PREFIX}t${++topoCount}` }).create();
    scripts = { loop: path.join(topo.dir, 'loop.js'), ident: path.join(topo.dir, 'ident.js') };
    fs.writeFileSync(scripts.loop, LOOP_JS);
    fs.writeFileSync(scripts.ident, IDENT_JS);
  });

  afterEach(function () {
    if (!topo) return;
    const t = topo;
    topo = null;
    impair.clearAll(t);
    const r = t.destroy();
    assert.deepEqual(r.leftNamespaces, [], 'every namespace of this test is deleted');
    assert.deepEqual(r.leftProcesses, [], 'no process is left in them');
    assert.deepEqual(listNamespaces().filter((n) => n.startsWith(t.prefix)), []);
  });

  after(function () {
    const left = listNamespaces().filter((n) => n.startsWith(RUN_PREFIX));
    assert.deepEqual(left, [], 'no namespace of this run is left');
  });

  /** Starts the allreduce loop: steps, floats per allreduce, ms between steps. */
  function loopJob(steps, size, sleepMs, opts = {}) {
    return runJob(topo, {
      np: NP,
      command: [NODE, scripts.loop, topo.dir, String(steps), String(size), String(sleepMs)],
      tagOutput: true,
      limit: 120,
      ...opts,
    });
  }

  function rankPids() {
    const pids = [];
    for (let r = 0; r < NP; r++) pids.push(Number(fs.readFileSync(path.join(topo.dir, `pid.${r}`), 'utf8')));
    return pids;
  }

  async function waitForPidFiles(job, ms = 60000) {
    const until = Date.now() + ms;
    for (;;) {
      let n = 0;
      for (let r = 0; r < NP; r++) if (fs.existsSync(path.join(topo.dir, `pid.${r}`))) n++;
      if (n === NP) return;
      if (Date.now() > until) throw new Error(`ranks did not start:\n${tail(job.out)}`);
      await sleep(50);
    }
  }

  it('hvdrun -H host1:2,host2:2 places 2 ranks on each host: hostname, rank, localRank/Size and crossRank/Size are right, and traffic crosses the veths', async function () {
    const before = topo.hosts.map((h) => topo.counters(h.name));
    const r = await runJobToEnd(topo, {
      launcher: 'hvdrun',
      hostsArg: 'host1:2,host2:2',
      np: NP,
      command: [NODE, scripts.ident],
      env: { HVD_MH_FORWARDED: 'yes' },
      limit: 90,
    });
    const after = topo.hosts.map((h) => topo.counters(h.name));
    assert.equal(r.code, 0, `hvdrun exited ${r.code}:\n${tail(r.out)}`);
    // hvdrun --verbose shows the keepalive settings it adds for multi-host runs.
    assert.match(r.out, /hvdrun: mpirun .*-H host1:2,host2:2 .*--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3/);
    const idents = r.out
      .split('\n')
      .filter((l) => l.startsWith('IDENT '))
      .map((l) => JSON.parse(l.slice(6)))
      .sort((a, b) => a.rank - b.rank);
    assert.deepEqual(idents.map((i) => i.rank), [0, 1, 2, 3], r.out);
    for (const i of idents) {
      const host = Math.floor(i.rank / SLOTS) + 1;
      assert.equal(i.hostname, `host${host}`, `rank ${i.rank} runs on host${host}`);
      assert.equal(i.size, NP);
      assert.equal(i.localSize, SLOTS);
      assert.equal(i.crossSize, HOSTS);
      assert.equal(i.localRank, i.rank % SLOTS);
      assert.equal(i.crossRank, Math.floor(i.rank / SLOTS));
      assert.equal(i.sum0, 10); // 1+2+3+4
      assert.equal(i.sumLast, 10);
      assert.deepEqual(i.gathered, [0, 1, 2, 3]);
      assert.equal(i.bcast, 4242);
      assert.equal(i.forwarded, 'yes', 'variables given with -x reach remote ranks');
    }
    topo.hosts.forEach((h, k) => {
      const rx = after[k].rxBytes - before[k].rxBytes;
      const tx = after[k].txBytes - before[k].txBytes;
      console.log(`      ${h.name} eth0: rx +${rx} B, tx +${tx} B`);
      // A 4 MiB allreduce between the hosts moves megabytes each way.
      assert.ok(rx > 1e6 && tx > 1e6, `${h.name}: rx +${rx} B, tx +${tx} B over its veth`);
    });
  });

  it('the parallel test suite passes across the two hosts (cross-host ranks over TCP)', async function () {
    const files = fs
      .readdirSync(path.join(ROOT, 'test', 'parallel'))
      .filter((f) => f.endsWith('.test.js'))
      .sort()
      .map((f) => `test/parallel/${f}`);
    const results = path.join(topo.dir, 'results');
    fs.mkdirSync(results);
    const before = topo.hosts.map((h) => topo.counters(h.name));
    const r = await runJobToEnd(topo, {
      np: NP,
      // .mocharc.json in the repo root adds the hvd.init() hooks and the
      // reporter that writes results-<rank>.json.
      command: [NODE, path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...files],
      env: { HVD_TEST_RESULTS_DIR: results },
      limit: 170,
    });
    assert.equal(r.code, 0, `mpirun exited ${r.code}:\n${tail(r.out)}`);
    assert.match(r.out, /\d+ passing/);
    const perRank = [];
    for (let rank = 0; rank < NP; rank++) {
      const file = path.join(results, `results-${rank}.json`);
      assert.ok(fs.existsSync(file), `rank ${rank} wrote no results:\n${tail(r.out)}`);
      const res = JSON.parse(fs.readFileSync(file, 'utf8'));
      assert.equal(res.size, NP);
      assert.equal(res.complete, true, `rank ${rank} did not finish`);
      assert.deepEqual(res.failed.map((f) => `${f.title}: ${f.message}`), [], `rank ${rank} failures`);
      assert.ok(res.passed.length > 50, `rank ${rank} passed only ${res.passed.length}`);
      perRank.push(res.passed.length);
    }
    assert.ok(perRank.every((n) => n === perRank[0]), `every rank passed the same tests: ${perRank}`);
    const bytes = topo.hosts.map((h, k) => topo.counters(h.name).rxBytes - before[k].rxBytes);
    assert.ok(bytes.every((b) => b > 1e6), `traffic crossed every host's veth: ${bytes}`);
    measured('multihost_parallel_suite_seconds', (r.ms / 1000).toFixed(1));
    console.log(`      ${perRank[0]} tests passed on each of ${NP} ranks; eth0 rx bytes per host: ${bytes}`);
  });

  it('MNIST trains across the two hosts to the single-host accuracy band, with identical weights', async function () {
    const r = await runJobToEnd(topo, {
      np: NP,
      command: [NODE, path.join(ROOT, 'dist', 'mnist.js'), '--epochs', '1', '--train-samples', '12800', '--json'],
      limit: 170,
    });
    assert.equal(r.code, 0, `mpirun exited ${r.code}:\n${tail(r.out)}`);
    const fin = finalJson(r.out);
    assert.equal(fin.ranks, NP);
    assert.equal(fin.weights_consistent, true);
    assert.ok(fin.test_accuracy > 0.85, `test_accuracy ${fin.test_accuracy}`);
    measured('multihost_mnist_seconds', (r.ms / 1000).toFixed(1));
    measured('multihost_mnist_test_accuracy', fin.test_accuracy);
  });

  it('kill -9 of a rank on another host ends every rank and mpirun within 10 s, naming the rank', async function () {
    const job = loopJob(100000, 1024, 20, { limit: 90 });
    await waitForPidFiles(job);
    await job.waitFor(/step 20\b/, 60000);
    const pids = rankPids();
    const victim = 3; // host2, local rank 1
    const killedAt = Date.now();
    process.kill(pids[victim], 'SIGKILL');
    const gone = new Map();
    const poll = setInterval(() => {
      pids.forEach((p, rank) => {
        if (!gone.has(rank) && !alive(p)) gone.set(rank, Date.now() - killedAt);
      });
    }, 25);
    const r = await job.done;
    // Give the other ranks the rest of the 10 s to be gone, if mpirun was quicker.
    while (gone.size < NP && Date.now() - killedAt < 10000) await sleep(25);
    clearInterval(poll);
    const exitS = (r.at - killedAt) / 1000;
    measured('kill9_exit_seconds', exitS.toFixed(2));
    assert.notEqual(r.code, 0, 'mpirun exits non-zero');
    assert.notEqual(r.code, 124, `mpirun hung until the timeout:\n${tail(r.out)}`);
    assert.ok(exitS < 10, `mpirun exited ${exitS} s after the kill`);
    assert.match(r.out, new RegExp(`process rank ${victim} with PID ${pids[victim]} on node host2 exited on signal 9`));
    for (let rank = 0; rank < NP; rank++) {
      assert.ok(gone.has(rank), `rank ${rank} (pid ${pids[rank]}) still runs 10 s after the kill`);
    }
    console.log(`      ranks gone after (ms): ${JSON.stringify(Object.fromEntries(gone))}; mpirun exit code ${r.code}`);
    await sleep(1000);
    assert.deepEqual(topo.leftovers(), [], 'mpirun left no process behind');
  });

  /**
   * Runs the loop, applies `fault` once it is under way, and checks that the
   * job ends within 30 s with ORTE's "lost communication" message.
   */
  async function lostHost(fault, measure, jobOpts) {
    const job = loopJob(100000, 1024, 20, { limit: 90, ...jobOpts });
    await job.waitFor(/step 20\b/, 60000);
    fault();
    const faultAt = Date.now();
    const r = await job.done;
    const s = (r.at - faultAt) / 1000;
    measured(measure, s.toFixed(2));
    assert.notEqual(r.code, 124, `the job hung until the timeout:\n${tail(r.out)}`);
    assert.notEqual(r.code, 137, `the job had to be SIGKILLed:\n${tail(r.out)}`);
    assert.notEqual(r.code, 0, 'the job fails');
    assert.ok(s < 30, `the job ended ${s} s after the fault`);
    assert.match(r.out, /ORTE has lost communication with a remote daemon/);
    console.log(`      exit code ${r.code}; processes left on the cut-off host at exit: ${topo.leftovers().length}`);
    return r;
  }

  it("a host's switch port going down for good ends an hvdrun job within 30 s with \"lost communication\", not a hang", async function () {
    // Through hvdrun, with no keepalive settings of our own: the ones hvdrun
    // adds for multi-host runs are what turn this hang into an error.
    const r = await lostHost(() => impair.linkDown(topo, 'host2'), 'link_down_exit_seconds', {
      launcher: 'hvdrun',
    });
    assert.match(r.out, /hvdrun: mpirun .*--mca oob_tcp_keepalive_time 5/);
  });

  it('a partition (all of host2\'s packets dropped, link up) ends the job within 30 s with "lost communication", not a hang', async function () {
    const why = impair.ensureTools({ log: (m) => console.log(`      ${m}`) }) || impair.iptablesReason(topo);
    if (why) {
      console.log(`      SKIPPED partition test: ${why}`);
      this.skip();
    }
    await lostHost(() => impair.partition(topo, 'host2'), 'partition_exit_seconds');
  });

  it('a 5 s link flap is survived: the job completes with correct results on every rank', async function () {
    const steps = 150;
    const job = loopJob(steps, 65536, 50, { limit: 120 });
    await job.waitFor(/step 40\b/, 60000);
    impair.linkDown(topo, 'host2');
    await sleep(5000);
    impair.linkUp(topo, 'host2');
    const r = await job.done;
    assert.equal(r.code, 0, `mpirun exited ${r.code}:\n${tail(r.out)}`);
    let maxGap = 0;
    for (let rank = 0; rank < NP; rank++) {
      const done = rankLines(r.out, rank).find((l) => l.startsWith('done '));
      assert.ok(done, `rank ${rank} finished:\n${tail(r.out)}`);
      const d = JSON.parse(done.slice(5));
      assert.equal(d.steps, steps);
      assert.equal(d.bad, 0, `rank ${rank} got wrong sums`);
      maxGap = Math.max(maxGap, d.maxGapMs);
    }
    // The flap really stalled the job (the link was down), and it resumed.
    assert.ok(maxGap >= 4000, `longest pause between steps ${maxGap} ms`);
    measured('flap5s_longest_pause_seconds', (maxGap / 1000).toFixed(2));
    measured('flap5s_job_seconds', (r.ms / 1000).toFixed(1));
  });

  describe('with loss and delay (iptables statistic + NFQUEUE delayer on the switch)', function () {
    let skipWhy = null;
    let delayerBin = null;

    before(function () {
      skipWhy = impair.ensureTools({ log: (m) => console.log(`      ${m}`) });
      if (!skipWhy) {
        try {
          delayerBin = impair.buildDelayer();
        } catch (e) {
          skipWhy = `cannot build nfq_delay: ${e.message}`;
        }
      }
      if (skipWhy) {
        console.log(`      SKIPPED impairment tests: ${skipWhy}`);
        this.skip();
      }
    });

    after(function () {
      if (delayerBin) fs.rmSync(path.dirname(delayerBin), { recursive: true, force: true });
    });

    it('1% loss and 5 ms delay each way on host2: MNIST completes with bitwise-identical weights', async function () {
      const why = impair.iptablesReason(topo);
      if (why) {
        console.log(`      SKIPPED: ${why}`);
        this.skip();
      }
      impair.loss(topo, 'host2', 0.01, { direction: 'both' });
      const delayer = await impair.delay(topo, 'host2', 5, { direction: 'both', bin: delayerBin });
      try {
        const job = runJob(topo, {
          np: NP,
          command: [NODE, path.join(ROOT, 'dist', 'mnist.js'), '--epochs', '1', '--train-samples', '12800', '--json'],
          limit: 170,
        });
        await Promise.race([job.done, sleep(4000)]);
        const mid = await delayer.check(); // the helper is alive and has seen traffic
        const r = await job.done;
        const counts = await delayer.stop();
        const rules = impair.counters(topo);
        assert.equal(r.code, 0, `mpirun exited ${r.code}:\n${tail(r.out)}`);
        const fin = finalJson(r.out);
        assert.equal(fin.weights_consistent, true, 'final weights bitwise identical on every rank');
        assert.ok(fin.test_accuracy > 0.85, `test_accuracy ${fin.test_accuracy}`);
        assert.ok(mid.in > 0, `nfq_delay saw no packets mid-run: ${JSON.stringify(mid)}`);
        assert.ok(counts.in >= 1000 && counts.accepted === counts.in, `nfq_delay counts ${JSON.stringify(counts)}`);
        const dropped = (rules['hvd-loss-host2-out'] || { packets: 0 }).packets + (rules['hvd-loss-host2-in'] || { packets: 0 }).packets;
        // At 1%, zero drops among >= 1000 packets has probability < 5e-5.
        assert.ok(dropped > 0, `the loss rules dropped nothing: ${JSON.stringify(rules)}`);
        measured('loss1_delay5_mnist_seconds', (r.ms / 1000).toFixed(1));
        console.log(
          `      nfq_delay delayed ${counts.in} packets (max ${counts.maxHeld} held); loss rules dropped ${dropped}; test_accuracy ${fin.test_accuracy}`,
        );
      } finally {
        await delayer.stop();
      }
    });
  });
});
