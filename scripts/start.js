#!/usr/bin/env node
'use strict';
// `npm start`: sets the machine up like `npm test` (OpenMPI, npm ci, build),
// then runs the MNIST job on 4 ranks through the hvdrun launcher:
//   npm start                       -> hvdrun -np 4 -- node dist/mnist.js
//   npm start -- -np 2 --epochs 2   -> ranks and mnist flags of your choice
const os = require('os');
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
  // hvdrun (and so mpirun and the ranks) must not outlive this process either:
  // the same kernel parent-death signal hvdrun uses for mpirun.
  const { pdeathsigWrapper } = require(path.join(ROOT, 'dist', 'launcher', 'hvdrun.js'));
  const setpriv = pdeathsigWrapper(process.env.PATH);
  const cmd = setpriv ? [setpriv, '--pdeathsig', 'TERM', '--', process.execPath, ...argv] : [process.execPath, ...argv];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', cwd: ROOT });
  let received;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      received = sig;
      child.kill(sig);
    });
  }
  const signo = (sig) => 128 + (os.constants.signals[sig] || 0);
  child.on('exit', (code, signal) => process.exit(received ? signo(received) : code ?? (signal ? signo(signal) : 1)));
}

try {
  main();
} catch (e) {
  console.error(`[hvd start] ${e.message}`);
  process.exit(1);
}
