'use strict';
// examples/flyte: installs flytekit + flytekitplugins-kfmpi (requirements.txt)
// into a virtual environment (cached under the deploy state dir, keyed by
// the requirements), then runs examples/flyte/test_hvd_mnist.py, which
// serializes the workflow with `pyflyte package` and checks the task specs.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { STATE_DIR, which } = require('./podman');

const ROOT = path.resolve(__dirname, '..', '..');
const FLYTE_DIR = path.join(ROOT, 'examples', 'flyte');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 900000, ...opts });
  return { ...r, out: `${r.stdout || ''}${r.stderr || ''}` };
}

describe('examples/flyte (flytekitplugins-kfmpi)', function () {
  this.timeout(0);
  let python = null;

  before(function () {
    const py = which('python3');
    if (!py) {
      console.log('      SKIPPED: python3 is not installed');
      this.skip();
    }
    const reqs = fs.readFileSync(path.join(FLYTE_DIR, 'requirements.txt'), 'utf8');
    const key = crypto.createHash('sha256').update(reqs).digest('hex').slice(0, 12);
    let cache = path.join(STATE_DIR, 'cache');
    try {
      fs.mkdirSync(cache, { recursive: true });
      fs.accessSync(cache, fs.constants.W_OK);
    } catch {
      cache = path.join(os.tmpdir(), 'hvd-deploy-cache'); // not root: a cache of our own
    }
    const venv = path.join(cache, `flyte-venv-${key}`);
    python = path.join(venv, 'bin', 'python');
    if (fs.existsSync(path.join(venv, '.complete'))) {
      console.log(`      [flyte] cached virtual environment ${venv}`);
      return;
    }
    const t0 = Date.now();
    fs.rmSync(venv, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(venv), { recursive: true });
    let r = run(py, ['-m', 'venv', venv]);
    if (r.status !== 0 && process.getuid() === 0 && which('apt-get')) {
      // Debian/Ubuntu ship venv separately
      console.log('      [flyte] python3 -m venv failed: apt-get install python3-venv');
      run('apt-get', ['install', '-y', '--no-install-recommends', 'python3-venv'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      fs.rmSync(venv, { recursive: true, force: true });
      r = run(py, ['-m', 'venv', venv]);
    }
    assert.equal(r.status, 0, `python3 -m venv failed:\n${r.out}`);
    r = run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', path.join(FLYTE_DIR, 'requirements.txt')]);
    assert.equal(r.status, 0, `pip install -r examples/flyte/requirements.txt failed:\n${r.out.slice(-4000)}`);
    fs.writeFileSync(path.join(venv, '.complete'), reqs);
    console.log(`      MEASURED flyte_venv_install_seconds=${((Date.now() - t0) / 1000).toFixed(1)}`);
  });

  it('pyflyte package serializes the workflow: an mpi task with 1 launcher, the workers, slots and the launcher command', function () {
    const r = run(python, ['-m', 'unittest', '-v', 'test_hvd_mnist.py'], { cwd: FLYTE_DIR });
    console.log(r.stderr.trim().split('\n').filter((l) => /\.\.\. |^Ran |^OK|FAIL|Error/.test(l)).map((l) => `        | ${l}`).join('\n'));
    assert.equal(r.status, 0, r.out.slice(-6000));
    assert.match(r.stderr, /Ran 5 tests/);
  });
});
