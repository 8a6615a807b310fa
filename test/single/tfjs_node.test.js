'use strict';
// @tensorflow/tfjs-node: what hvdrun --check-build reports about it
// (src/launcher/tfjs_node.ts) and the setup script's command line
// (scripts/setup-tfjs-node.js). The tfjs suites themselves run on tfjs-node
// in the node-* runs of scripts/test.js.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT } = require('../support/util');

const { tfjsNodeStatus, formatTfjsNode } = require('../../dist/launcher/tfjs_node.js');
const setup = require('../../scripts/setup-tfjs-node');
const { formatCheckBuild } = require('../../dist/launcher/hvdrun.js');

/** A folder whose node_modules has a fake @tensorflow/tfjs-node with this index.js. */
function fakeTfjsNode(index, version = '9.9.9') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-tfjs-node-'));
  const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', version, main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), index);
  return dir;
}

describe('tfjs-node in hvdrun --check-build', function () {
  this.timeout(120000);
  const dirs = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('not installed: no line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-no-tfjs-node-'));
    dirs.push(dir);
    const s = tfjsNodeStatus([dir]);
    assert.deepEqual(s, { installed: false, loads: false });
    assert.equal(formatTfjsNode(s), null);
  });

  it('installed but its addon does not load: says so and how to fix it', () => {
    const dir = fakeTfjsNode("throw new Error('libtensorflow.so.2: cannot open shared object file');");
    dirs.push(dir);
    const s = tfjsNodeStatus([dir]);
    assert.equal(s.installed, true);
    assert.equal(s.loads, false);
    assert.equal(s.version, '9.9.9');
    assert.match(s.error, /libtensorflow\.so\.2: cannot open shared object file/);
    assert.match(formatTfjsNode(s), /@tensorflow\/tfjs-node 9\.9\.9: does not load \(.*libtensorflow.*\); in the hvd repo: npm run setup:tfjs-node/);
  });

  it('an addon that kills the process is reported, not fatal', () => {
    const dir = fakeTfjsNode('process.abort();');
    dirs.push(dir);
    const s = tfjsNodeStatus([dir]);
    assert.equal(s.loads, false);
    assert.match(s.error, /loading it crashed \(killed by SIGABRT\)/);
  });

  it('loads: TensorFlow version under the TensorFlow.js line', () => {
    const line = formatTfjsNode({ installed: true, loads: true, version: '4.22.0', tensorflow: '2.15.1' });
    assert.equal(line, '        @tensorflow/tfjs-node 4.22.0: TensorFlow 2.15.1');
    const info = { version: '0.1.0', ncclBuilt: false, ncclAvailable: false, mpiLibraryVersion: 'Open MPI v4.1.4', mpiVendor: 'openmpi', mpiThreadLevel: null, addonPath: '/x/hvd.node' };
    const out = formatCheckBuild(info, ['@tensorflow/tfjs-node'], [line]);
    assert.match(out, /^ {4}\[X\] TensorFlow\.js \(@tensorflow\/tfjs-node\)\n {8}@tensorflow\/tfjs-node 4\.22\.0: TensorFlow 2\.15\.1\n\n/m);
  });

  it('the real one, when it loads here (npm run setup:tfjs-node)', function () {
    const real = setup.probe(ROOT);
    if (!real.ok) this.skip();
    const s = tfjsNodeStatus([ROOT]);
    assert.equal(s.loads, true, s.error);
    assert.equal(s.tensorflow, real.tensorflow);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'hvdrun.js'), '--check-build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^ {8}@tensorflow/tfjs-node ${s.version.replace(/\./g, '\\.')}: TensorFlow \\d+\\.\\d+\\.\\d+$`, 'm'));
  });
});

describe('scripts/setup-tfjs-node.js', function () {
  this.timeout(120000);

  it('parses its options and refuses bad ones by name', () => {
    assert.equal(setup.parseArgs([]).tfVersion, setup.DEFAULT_TF_VERSION);
    assert.equal(setup.parseArgs(['--route=wheel', '--tf-version', '2.16.2', '--force']).route, 'wheel');
    assert.throws(() => setup.parseArgs(['--route', 'ftp']), /--route must be auto, download or wheel; got 'ftp'/);
    assert.throws(() => setup.parseArgs(['--tf-version', 'latest']), /--tf-version must look like 2\.15\.1; got 'latest'/);
    assert.throws(() => setup.parseArgs(['--bogus']), /unknown argument: --bogus/);
  });

  it('--check answers without changing anything (exit 0 exactly when tfjs-node loads)', () => {
    const real = setup.probe(ROOT);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'setup-tfjs-node.js'), '--check'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, real.ok ? 0 : 1, r.stdout + r.stderr);
    assert.match(r.stdout, real.ok ? /already set up: tfjs-node \S+ on TensorFlow \S+/ : /does not load/);
  });
});
