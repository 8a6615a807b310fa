'use strict';
// hvd as a dependency: a consumer project installs the repo by path and as
// a packed tarball, then uses it with require() and with TypeScript's import.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { ROOT } = require('../support/util');

const npm = (args, cwd, env = {}) =>
  spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', ...env }, timeout: 300000 });

function consumer(dir) {
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  fs.writeFileSync(
    path.join(dir, 'use.js'),
    `const hvd = require('hvd');
     hvd.init();
     const r = hvd.allreduceSync(new Float32Array([2, 4]), { op: 'sum' });
     console.log(JSON.stringify({ size: hvd.size(), r: Array.from(r), addon: hvd.buildInfo().addonPath }));
     hvd.shutdown();`,
  );
  fs.writeFileSync(
    path.join(dir, 'use.ts'),
    `import * as hvd from 'hvd';
     hvd.init();
     const x: Float32Array = hvd.allreduceSync(new Float32Array([1]), { op: hvd.Sum, name: 'typed' });
     const p: Promise<number[]> = hvd.allgatherObject(hvd.rank());
     const opts: hvd.AllreduceOptions = { op: 'max' };
     void x; void p; void opts;
     hvd.shutdown();`,
  );
}

describe('hvd as an installed package', function () {
  this.timeout(600000);
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-consumer-'));
    consumer(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function checkUse() {
    const out = execFileSync(process.execPath, ['use.js'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HVD_NATIVE_PATH: '' } });
    const res = JSON.parse(out.trim().split('\n').pop());
    assert.equal(res.size, 1);
    assert.deepEqual(res.r, [2, 4]);
    // The TypeScript consumer type-checks against the shipped declarations.
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const t = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--esModuleInterop', '--skipLibCheck', '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'ES2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'use.ts'], { cwd: dir, encoding: 'utf8' });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    return res;
  }

  it('installed by path: require() and import work', function () {
    const r = npm(['install', '--no-save', '--prefer-offline', ROOT], dir);
    assert.equal(r.status, 0, r.stderr);
    checkUse();
  });

  it('installed from `npm pack`: the tarball builds its addon at install time and works', function () {
    const pack = npm(['pack', '--pack-destination', dir, '--ignore-scripts'], ROOT);
    assert.equal(pack.status, 0, pack.stderr);
    const tarball = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const r = npm(['install', '--no-save', '--prefer-offline', path.join(dir, tarball)], dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const res = checkUse();
    assert.ok(res.addon.startsWith(fs.realpathSync(dir)) || res.addon.includes(path.join('node_modules', 'hvd')), `addon loaded from ${res.addon}`);
  });
});
