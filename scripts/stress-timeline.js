#!/usr/bin/env node
'use strict';
// Kills HOROVOD_TIMELINE jobs over and over and counts the traces that no
// longer parse as JSON: the timeline test's job (test/single/timeline.test.js)
// in a loop, with the signal at a random moment 0.5-1.5 s after rank 0 has done
// 200 allreduces. The loop writes events at about 45 MB/s, which is what made
// the in-process writer's cut writes show up (1 trace in 40 with SIGTERM; see
// native/timeline_writer.h).
//
// Usage: node scripts/stress-timeline.js [runs=40] [SIGTERM|SIGINT|SIGKILL]
//   SIGKILL kills rank 0 itself; the others go to mpirun. Exits 1 when a trace
//   was cut or a trace writer outlived its job.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const runs = Number(process.argv[2] ?? 40);
const signal = process.argv[3] ?? 'SIGTERM';
const root = path.resolve(__dirname, '..');

function writers() {
  return fs.readdirSync('/proc').filter((d) => {
    try {
      return /^\d+$/.test(d) && /\(hvd-timeline\) [^Z]/.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
}

async function once(i) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-tl-stress-'));
  const file = path.join(dir, 'trace.json');
  const code = `const hvd = require(${JSON.stringify(root)});
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
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
  const child = spawn('mpirun', args, { env: { ...env, HOROVOD_TIMELINE: file }, stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 60000;
  while (!fs.existsSync(path.join(dir, 'busy')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
  if (signal === 'SIGKILL') process.kill(Number(fs.readFileSync(path.join(dir, 'pid.0'), 'utf8')), 'SIGKILL');
  else child.kill(signal);
  await exited;
  const until = Date.now() + 10000;
  while (writers().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const problems = [];
  if (writers().length > 0) problems.push('a trace writer outlived the job');
  const text = fs.readFileSync(file, 'utf8');
  try {
    JSON.parse(text);
  } catch (e) {
    problems.push(`cut trace (${e.message}; ${text.length} bytes, ends ${JSON.stringify(text.slice(-80))})`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  for (const p of problems) console.log(`run ${i}: ${p}`);
  return problems.length === 0;
}

(async () => {
  let bad = 0;
  for (let i = 0; i < runs; i++) if (!(await once(i))) bad++;
  console.log(`${signal}: ${bad} of ${runs} runs failed`);
  process.exit(bad ? 1 : 0);
})();
