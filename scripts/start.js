#!/usr/bin/env node
'use strict';
// `npm start`: sets the machine up like `npm test` (OpenMPI, npm ci, build),
// then runs the MNIST job on 4 ranks through the hvdrun launcher:
//   npm start                       -> hvdrun -np 4 -- node dist/mnist.js
//   npm start -- -np 2 --epochs 2   -> ranks and mnist flags of your choice
const path = require('path');
const { spawn } = require('child_process');

const ROOT = path.resolve(__dirname, '..');

function main() {
  if (process.env.HVD_START_SKIP_SETUP !== '1') {
    const setup = require('./setup');
    setup.ensureSystemDeps();
    setup.ensureBuilt({ quiet: true });
  }
  const args = process.argv.slice(2);
  let np = '4';
  const i = args.findIndex((a) => a === '-np' || a === '-n' || a === '--np');
  if (i >= 0) {
    np = args[i + 1];
    args.splice(i, 2);
  }
  const argv = [path.join(ROOT, 'bin', 'hvdrun.js'), '-np', np, '--', process.execPath, path.join(ROOT, 'dist', 'mnist.js'), ...args];
  console.log(`[hvd start] hvdrun -np ${np} -- node dist/mnist.js ${args.join(' ')}`.trimEnd());
  const child = spawn(process.execPath, argv, { stdio: 'inherit', cwd: ROOT });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 2 : 1)));
}

try {
  main();
} catch (e) {
  console.error(`[hvd start] ${e.message}`);
  process.exit(1);
}
