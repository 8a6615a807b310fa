'use strict';
// scripts/setup-tfjs-node.js (npm run setup:tfjs-node): its command line, and
// what hvdrun --check-build reports once it has run. The tfjs suites
// themselves run on tfjs-node in the node-* runs of scripts/test.js.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { ROOT } = require('../support/util');

const setup = require('../../scripts/setup-tfjs-node');

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

  it('once it has run, hvdrun --check-build reports tfjs-node with the TensorFlow it loaded', function () {
    const real = setup.probe(ROOT);
    if (!real.ok) this.skip();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'hvdrun.js'), '--check-build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const v = (x) => x.replace(/\./g, '\\.');
    assert.match(r.stdout, new RegExp(`^ {4}\\[X\\] tfjs-node: loads \\(tfjs-node ${v(real.tfjsNode)}, TensorFlow ${v(real.tensorflow)}\\)$`, 'm'));
  });
});
