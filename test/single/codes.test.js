'use strict';
// The codes table is defined once (native/codes.h) and generated into
// src/codes.ts; the addon reports the table it was compiled with. They must
// agree entry for entry, or TypeScript would send codes the engine reads as
// something else.
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { loadNative } = require('../../dist/native');
const codes = require('../../dist/codes');

const ROOT = path.resolve(__dirname, '..', '..');

describe('codes table', function () {
  const compiled = loadNative().codes();

  it('dtypes, sizes, reduce ops, kinds and status codes match the compiled addon', function () {
    assert.deepEqual(compiled.dtypes, { ...codes.DTYPES });
    assert.deepEqual(compiled.dtypeBytes, { ...codes.DTYPE_BYTES });
    assert.deepEqual(compiled.reduceOps, { ...codes.REDUCE_OPS });
    assert.deepEqual(compiled.kinds, { ...codes.KINDS });
    assert.deepEqual(compiled.statusCodes, { ...codes.STATUS_CODES });
  });

  it('src/codes.ts is what scripts/gen_codes.js makes of native/codes.h', function () {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen_codes.js'), '--check'], { stdio: 'pipe' });
  });

  it('every HorovodError code the engine can report is a declared HorovodErrorCode', function () {
    // src/errors.ts lists the codes users can switch on; the engine's must be among them.
    const src = require('node:fs').readFileSync(path.join(ROOT, 'src', 'errors.ts'), 'utf8');
    for (const code of Object.keys(compiled.statusCodes)) {
      if (code === 'HVD_OK') continue;
      assert.match(src, new RegExp(`'${code}'`), `${code} missing from HorovodErrorCode`);
    }
  });
});
