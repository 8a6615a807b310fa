'use strict';
// Logs without a person watching are plain text (issue 13). Under mpirun
// every rank's stdout is a pseudo-terminal whatever mpirun's output goes to,
// so hvd and its examples decide with hvd.interactiveOutput(): HVD_PROGRESS=1
// (set by hvdrun and `npm start` on a terminal) draws progress bars; under an
// MPI launch nothing else does; outside one, isTTY decides.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const hvd = require('../..');
const { ROOT } = require('../support/util');

const MNIST = path.join(ROOT, 'dist', 'mnist.js');
const HVDRUN = path.join(ROOT, 'bin', 'hvdrun.js');
const QUICK = ['--epochs', '1', '--train-samples', '640', '--batch-size', '64'];
const ESC = 0x1b;

/** The environment of a launcher started by hand: no enclosing job, no hvd settings. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(OMPI_(?!ALLOW_RUN_AS_ROOT)|PMIX_|PMI_|ORTE_|HOROVOD_|HVD_)/.test(k)) env[k] = v;
  }
  return { ...env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', TERM: env.TERM || 'xterm-256color', ...extra };
}

/** Runs argv with stdout and stderr going to a file (as `cmd > log 2>&1` does); returns the bytes. */
function runToFile(argv, env, timeout = 240000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-log-'));
  const file = path.join(dir, 'log.txt');
  const fd = fs.openSync(file, 'w');
  try {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', fd, fd], timeout, killSignal: 'SIGKILL' });
    fs.closeSync(fd);
    return { status: r.status, log: fs.readFileSync(file) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const mpirun = (np, cmd) => ['mpirun', '--bind-to', 'none', '--oversubscribe', '-np', String(np), ...cmd];

describe('interactiveOutput', function () {
  const tty = { isTTY: true };
  const pipe = { isTTY: undefined };
  it('outside MPI trusts isTTY; HVD_PROGRESS overrides', function () {
    assert.equal(hvd.interactiveOutput(tty, {}), true);
    assert.equal(hvd.interactiveOutput(pipe, {}), false);
    assert.equal(hvd.interactiveOutput(pipe, { HVD_PROGRESS: '1' }), true);
    assert.equal(hvd.interactiveOutput(tty, { HVD_PROGRESS: '0' }), false);
  });
  it('under an MPI launch a tty is not enough: only HVD_PROGRESS=1 draws', function () {
    for (const v of ['OMPI_COMM_WORLD_SIZE', 'PMI_RANK', 'PMIX_RANK', 'PMI_SIZE']) {
      assert.equal(hvd.underMpiLaunch({ [v]: '2' }), true, v);
      assert.equal(hvd.interactiveOutput(tty, { [v]: '2' }), false, v);
      assert.equal(hvd.interactiveOutput(tty, { [v]: '2', HVD_PROGRESS: '1' }), true, v);
    }
    assert.equal(hvd.underMpiLaunch({}), false);
  });
  it('plainOutputUnlessWatched sets NO_COLOR only when nobody watches, and lets FORCE_COLOR/NO_COLOR win', function () {
    const env = { OMPI_COMM_WORLD_SIZE: '2' };
    assert.equal(hvd.plainOutputUnlessWatched(env), false);
    assert.equal(env.NO_COLOR, '1');
    const forced = { OMPI_COMM_WORLD_SIZE: '2', FORCE_COLOR: '1' };
    assert.equal(hvd.plainOutputUnlessWatched(forced), true);
    assert.equal(forced.NO_COLOR, undefined);
    const watched = { OMPI_COMM_WORLD_SIZE: '2', HVD_PROGRESS: '1' };
    assert.equal(hvd.plainOutputUnlessWatched(watched), true);
    assert.equal(watched.NO_COLOR, undefined);
  });
});

describe('logs under mpirun are plain text', function () {
  this.timeout(300000);

  it('Open MPI gives ranks a pseudo-terminal even when output goes to a file (why isTTY cannot decide)', function () {
    const r = runToFile(mpirun(1, [process.execPath, '-e', 'console.log("isTTY=" + process.stdout.isTTY)']), cleanEnv());
    assert.equal(r.status, 0, r.log.toString());
    assert.match(r.log.toString(), /isTTY=.*true/);
  });

  it('console.log of objects writes no colour codes after plainOutputUnlessWatched (np=2)', function () {
    const code = `require(${JSON.stringify(ROOT)}).plainOutputUnlessWatched(); console.log({ rank: process.env.OMPI_COMM_WORLD_RANK, ok: true, n: 3 })`;
    const r = runToFile(mpirun(2, [process.execPath, '-e', code]), cleanEnv());
    assert.equal(r.status, 0, r.log.toString());
    assert.equal(r.log.indexOf(ESC), -1, `escape bytes in: ${JSON.stringify(r.log.toString())}`);
    assert.equal((r.log.toString().match(/ok: true/g) || []).length, 2);
  });

  it('mpirun -np 2 node dist/mnist.js > file: no escape bytes, one plain line per epoch', function () {
    const r = runToFile(mpirun(2, [process.execPath, MNIST, ...QUICK]), cleanEnv());
    const text = r.log.toString();
    assert.equal(r.status, 0, text);
    assert.equal(r.log.indexOf(ESC), -1, `escape bytes in the log: ${JSON.stringify(text.slice(0, 400))}`);
    assert.match(text, /^epoch 1: loss [\d.]+, accuracy [\d.]+/m);
    assert.match(text, /weights consistent across 2 ranks/);
  });

  it('npm start > file (hvdrun without a terminal): no escape bytes', function () {
    const r = runToFile([process.execPath, path.join(ROOT, 'scripts', 'start.js'), '-np', '2', ...QUICK], cleanEnv({ HVD_START_SKIP_SETUP: '1' }));
    const text = r.log.toString();
    assert.equal(r.status, 0, text);
    assert.equal(r.log.indexOf(ESC), -1, `escape bytes in the log: ${JSON.stringify(text.slice(0, 400))}`);
    assert.match(text, /^epoch 1: loss /m);
  });
});

describe('progress bars on a real terminal (tmux)', function () {
  this.timeout(300000);
  const session = `hvd-progress-${process.pid}`;
  let tmux;

  before(function () {
    const which = () => spawnSync('sh', ['-c', 'command -v tmux'], { encoding: 'utf8' }).stdout.trim();
    tmux = which();
    if (!tmux && process.getuid && process.getuid() === 0) {
      // Idempotent: installs only when missing.
      spawnSync('apt-get', ['install', '-y', '-q', 'tmux'], { stdio: 'ignore', timeout: 240000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      tmux = which();
    }
    if (!tmux) this.skip(); // not root and no tmux: nothing to draw on
  });
  after(function () {
    if (tmux) spawnSync(tmux, ['kill-session', '-t', session], { stdio: 'ignore' });
  });

  it('hvdrun -np 2 -- node dist/mnist.js inside a terminal draws the bar on rank 0', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-tmux-'));
    const raw = path.join(dir, 'pane.raw');
    const env = cleanEnv();
    const t = (...args) => spawnSync(tmux, args, { env, encoding: 'utf8' });
    try {
      assert.equal(t('new-session', '-d', '-s', session, '-x', '160', '-y', '40').status, 0);
      // Everything the pane receives, escape codes included.
      t('pipe-pane', '-t', session, '-o', `cat >> ${raw}`);
      const cmd = [process.execPath, HVDRUN, '-np', '2', '--', process.execPath, MNIST, ...QUICK].map((a) => `'${a}'`).join(' ');
      t('send-keys', '-t', session, `cd '${ROOT}' && ${cmd}; echo HVD_EXIT=$?`, 'Enter');
      let screens = '';
      const deadline = Date.now() + 240000;
      while (Date.now() < deadline) {
        const pane = t('capture-pane', '-p', '-e', '-t', session).stdout;
        if (/epoch 1\/1 \[/.test(pane)) screens += pane;
        if (/HVD_EXIT=\d+/.test(pane)) {
          screens += pane;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const bytes = fs.existsSync(raw) ? fs.readFileSync(raw, 'utf8') : '';
      assert.match(screens, /HVD_EXIT=0/, `job did not finish cleanly:\n${screens}`);
      // The bar was drawn (redrawn in place with escape codes) on the terminal...
      assert.match(bytes, /epoch 1\/1 \[[^\]]*\] \d+\/\d+ \| loss/, `no progress bar in the pane output:\n${JSON.stringify(bytes.slice(0, 600))}`);
      assert.ok(bytes.includes('\u001b['), 'the bar redraws with escape codes');
      // ...by rank 0 only, and the plain epoch line follows it.
      assert.equal((bytes.match(/hvd MNIST: 2 rank/g) || []).length, 1);
      assert.match(bytes, /epoch 1: loss [\d.]+/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
