'use strict';
// scripts/lib/common.js: what scripts/test.js, bench.js, setup.js and the
// bench workers share. No timing is asserted: the timeouts here only decide
// when the runner kills, and the checks are about what is left alive.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT } = require('../support/util');

const common = require('../../scripts/lib/common');

/** Whether pid is a live process (a zombie waiting for its reaper counts as gone). */
function alive(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function gone(pid) {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

describe('scripts/lib/common.js', function () {
  this.timeout(60000);

  describe('parseCommandLine', () => {
    const options = { only: { type: 'string', multiple: true }, grep: { type: 'string', short: 'g' }, quick: { type: 'boolean' } };

    it('parses values, short names, repeats and the arguments after --', () => {
      const r = common.parseCommandLine(['--only', 'np2', '--only=np3', '-g', 'x', '--quick', '--', '--invert', 'a'], options, { rest: true });
      assert.deepEqual(r.values.only, ['np2', 'np3']);
      assert.equal(r.values.grep, 'x');
      assert.equal(r.values.quick, true);
      assert.deepEqual(r.rest, ['--invert', 'a']);
    });

    it('names the argument in every refusal', () => {
      const refuses = (args, re, o) => assert.throws(() => common.parseCommandLine(args, options, o), (e) => e instanceof common.UsageError && re.test(e.message));
      refuses(['--bogus'], /^unknown argument: --bogus$/);
      refuses(['--grep'], /^--grep needs a value$/);
      refuses(['--quick=yes'], /^--quick does not take a value$/);
      refuses(['stray'], /^unexpected argument: stray$/);
      refuses(['--', 'x'], /^unexpected argument after --: x$/);
    });

    it('checks numbers and lists by name', () => {
      assert.equal(common.numberOption('rounds', '3'), 3);
      assert.throws(() => common.numberOption('rounds', 'x'), /--rounds needs a positive number, got "x"/);
      assert.throws(() => common.numberOption('rounds', ''), /--rounds needs/);
      assert.deepEqual(common.listOption('config', ['shm,tcp', 'np4'], ['shm', 'tcp', 'np4']), ['shm', 'tcp', 'np4']);
      assert.throws(() => common.listOption('config', ['shm,udp'], ['shm', 'tcp']), /--config: unknown value "udp" \(use shm\|tcp\)/);
    });
  });

  describe('the scripts refuse unknown flags with exit code 2 and their usage', () => {
    for (const script of ['test.js', 'bench.js', 'setup.js', 'setup-tfjs-node.js', 'test-asan.js']) {
      it(script, () => {
        const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', script), '--no-such-flag'], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /unknown argument: --no-such-flag/);
        assert.match(r.stderr, /usage: node scripts\//);
      });
    }
  });

  describe('mpiEnv', () => {
    it('drops the variables of an enclosing MPI job and keeps the rest', () => {
      const env = common.mpiEnv({ PATH: '/bin', OMPI_COMM_WORLD_RANK: '1', PMIX_RANK: '1', OMPI_MCA_orte_hnp_uri: 'x', OMPI_MCA_btl: 'self', HVD_X: '1' }, { EXTRA: 'y' });
      assert.equal(env.PATH, '/bin');
      assert.equal(env.OMPI_MCA_btl, 'self');
      assert.equal(env.HVD_X, '1');
      assert.equal(env.EXTRA, 'y');
      for (const k of ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'OMPI_MCA_orte_hnp_uri']) assert.equal(env[k], undefined, k);
      assert.equal(env.OMPI_ALLOW_RUN_AS_ROOT, common.isRoot() ? '1' : undefined);
    });
  });

  describe('mpirunCommand', () => {
    it("is the launcher's buildMpirunCommand, with the extra variables and mpirun arguments", () => {
      const env = { PATH: '/usr/bin', HVD_TEST_NP: '2', NODE_OPTIONS: '--x', UNRELATED: '1' };
      const argv = common.mpirunCommand(2, ['node', 'x.js'], { env, exportEnv: ['NODE_OPTIONS', 'NOT_SET', 'LD_PRELOAD=/lib/a.so'], mpiArgs: ['--oversubscribe'], tcp: true });
      const { buildMpirunCommand } = require(path.join(ROOT, 'dist', 'launcher', 'hvdrun.js'));
      const opts = { numProc: 2, command: ['node', 'x.js'], mpiArgs: ['-x', 'NODE_OPTIONS', '-x', 'LD_PRELOAD=/lib/a.so', '--oversubscribe'], env: {}, tcp: true, verbose: false, help: false, checkBuild: false };
      assert.deepEqual(argv, buildMpirunCommand(opts, env, common.isRoot()));
      const line = argv.join(' ');
      assert.match(line, /-np 2 .*--bind-to none --map-by slot/);
      assert.match(line, /--mca btl tcp,self/);
      assert.match(line, /-x HVD_TEST_NP/);
      assert.doesNotMatch(line, /NOT_SET|UNRELATED/);
      assert.match(line, /-x LD_PRELOAD=\/lib\/a\.so --oversubscribe node x\.js$/);
    });
  });

  describe('runProcess', () => {
    it('collects output, exit code and the JSON lines', async () => {
      const r = await common.runProcess(['/bin/sh', '-c', 'echo hello; echo \'{"a":1}\'; echo oops >&2; exit 3'], { stdio: 'pipe' });
      assert.equal(r.code, 3);
      assert.equal(r.timedOut, false);
      assert.match(r.stdout, /hello/);
      assert.match(r.stderr, /oops/);
      assert.deepEqual(common.jsonLines(r.stdout), [{ a: 1 }]);
    });

    it('reports a program that cannot start', async () => {
      const r = await common.runProcess([path.join(ROOT, 'no-such-program')], { stdio: 'pipe' });
      assert.equal(r.error && r.error.code, 'ENOENT');
    });

    it('kills the whole process group on timeout, grandchildren included', async () => {
      const r = await common.runProcess(['/bin/sh', '-c', 'sleep 60 & echo $!; wait'], { stdio: 'pipe', timeoutS: 1, graceS: 1 });
      assert.equal(r.timedOut, true);
      const pid = Number(r.stdout.trim());
      assert.ok(pid > 0, r.stdout);
      assert.ok(await gone(pid), `the grandchild ${pid} survived the timeout`);
    });

    it('leaves no process behind when the child exits first', async () => {
      const r = await common.runProcess(['/bin/sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], { stdio: 'pipe' });
      assert.equal(r.code, 0);
      const pid = Number(r.stdout.trim());
      assert.ok(await gone(pid), `the background process ${pid} outlived its parent`);
    });
  });
});
