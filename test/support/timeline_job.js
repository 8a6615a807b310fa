'use strict';
// A HOROVOD_TIMELINE job that is killed while it records: used by
// test/single/timeline.test.js and by scripts/stress-timeline.js, which runs
// it in a loop. Two ranks allreduce 64 floats as fast as they can (about
// 45 MB/s of trace events); once rank 0 has done 200 calls, the job waits
// `delayMs`, calls `beforeKill`, and is killed with `signal` (SIGKILL goes to
// rank 0 itself, the recording rank; the other signals to mpirun).
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');

/** Processes named hvd-timeline (the trace writer) that are still running. */
function writers() {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.includes('(hvd-timeline)') && !/\) Z /.test(stat)) found.push(Number(pid));
    } catch {}
  }
  return found;
}

/**
 * Runs the job in `dir` (trace at dir/trace.json) and kills it. Resolves with
 * { started, rank0, writersLeft, text }: whether rank 0 reached 200 calls
 * within 60 s (if not, nothing is killed but mpirun), rank 0's pid, the
 * writers still running 10 s after the job ended, and the trace's text.
 */
async function killTimelineJob({ dir, signal, delayMs, beforeKill = () => {} }) {
  const file = path.join(dir, 'trace.json');
  const code = `const hvd = require(${JSON.stringify(ROOT)});
    hvd.init();
    require('fs').writeFileSync(${JSON.stringify(dir)} + '/pid.' + hvd.rank(), String(process.pid));
    let k = 0;
    const tick = () => {
      hvd.allreduceSync(new Float32Array(64), { name: 'loop.' + (k++ % 50) });
      if (k === 200 && hvd.rank() === 0) require('fs').writeFileSync(${JSON.stringify(dir)} + '/busy', '');
      setImmediate(tick);
    };
    tick();`;
  const args = ['--bind-to', 'none', '-np', '2', '-x', 'HOROVOD_TIMELINE', process.execPath, '-e', code];
  if (process.getuid() === 0) args.unshift('--allow-run-as-root');
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
  const child = spawn('mpirun', args, { env: { ...clean, HOROVOD_TIMELINE: file }, stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  // Signal once the job has done real work and the timeline has had time to
  // flush it (a fixed wait failed when mpirun started slowly).
  const busy = path.join(dir, 'busy');
  const deadline = Date.now() + 60000;
  while (!fs.existsSync(busy) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const started = fs.existsSync(busy);
  let rank0 = null;
  if (started) {
    await new Promise((r) => setTimeout(r, delayMs));
    rank0 = Number(fs.readFileSync(path.join(dir, 'pid.0'), 'utf8'));
    try {
      await beforeKill({ rank0 });
    } finally {
      if (signal === 'SIGKILL') process.kill(rank0, 'SIGKILL');
      else child.kill(signal);
    }
  } else {
    child.kill('SIGTERM');
  }
  await exited;
  // The writer finishes the file and exits once rank 0 is gone.
  const until = Date.now() + 10000;
  while (writers().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return { started, rank0, writersLeft: writers(), text: fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '' };
}

module.exports = { writers, killTimelineJob };
