#!/usr/bin/env node
'use strict';
// Kills HOROVOD_TIMELINE jobs over and over and counts the traces that no
// longer parse as JSON: the timeline test's job (test/support/timeline_job.js)
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
const { killTimelineJob } = require('../test/support/timeline_job');

const runs = Number(process.argv[2] ?? 40);
const signal = process.argv[3] ?? 'SIGTERM';

async function once(i) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-tl-stress-'));
  const { started, writersLeft, text } = await killTimelineJob({ dir, signal, delayMs: 500 + Math.random() * 1000 });
  fs.rmSync(dir, { recursive: true, force: true });
  const problems = [];
  if (!started) problems.push('the job did not get going within 60 s');
  if (writersLeft.length > 0) problems.push('a trace writer outlived the job');
  try {
    JSON.parse(text);
  } catch (e) {
    problems.push(`cut trace (${e.message}; ${text.length} bytes, ends ${JSON.stringify(text.slice(-80))})`);
  }
  for (const p of problems) console.log(`run ${i}: ${p}`);
  return problems.length === 0;
}

(async () => {
  let bad = 0;
  for (let i = 0; i < runs; i++) if (!(await once(i))) bad++;
  console.log(`${signal}: ${bad} of ${runs} runs failed`);
  process.exit(bad ? 1 : 0);
})();
