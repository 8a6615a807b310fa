#!/usr/bin/env node
'use strict';
// hvdrun: launch a Horovod-style job under OpenMPI's mpirun.
// The implementation lives in src/launcher/hvdrun.ts (compiled to dist/).
const fs = require('node:fs');
const path = require('node:path');

const impl = path.join(__dirname, '..', 'dist', 'launcher', 'hvdrun.js');
if (!fs.existsSync(impl)) {
  process.stderr.write(
    `hvdrun: error: ${impl} does not exist: hvd has not been built.\n` +
      `hvdrun: run \`npm run build\` in ${path.join(__dirname, '..')} first.\n`,
  );
  process.exit(1);
}

require(impl)
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`hvdrun: internal error: ${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
