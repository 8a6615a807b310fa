'use strict';
// Mocha reporter for hvd's multi-process test runs (scripts/test.js).
//
// - Rank 0 (OMPI_COMM_WORLD_RANK unset or '0') prints like mocha's `spec` reporter.
// - Other ranks print only their failures, tagged with the rank number.
// - Every rank writes $HVD_TEST_RESULTS_DIR/results-<rank>.json when the run
//   ends: {rank, size, complete, passed: [fullTitle...], failed: [{title,
//   message, stack, file}], pending: [fullTitle...]}. If the process exits
//   before mocha's 'end' event, the file is still written with complete:false.
// - running-<rank>.txt holds the title of the test/hook in progress.

const fs = require('fs');
const path = require('path');
const Mocha = require('mocha');

const { Base, Spec } = Mocha.reporters;
const {
  EVENT_HOOK_BEGIN,
  EVENT_RUN_END,
  EVENT_TEST_BEGIN,
  EVENT_TEST_FAIL,
  EVENT_TEST_PASS,
  EVENT_TEST_PENDING,
} = Mocha.Runner.constants;

function envRank() {
  const v = process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMIX_RANK ?? process.env.PMI_RANK;
  const n = v === undefined || v === '' ? 0 : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

function envSize() {
  const v = process.env.OMPI_COMM_WORLD_SIZE ?? process.env.PMI_SIZE;
  const n = v === undefined || v === '' ? 1 : Number(v);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

const RANK = envRank();
const SIZE = envSize();

function errorInfo(err) {
  if (err === null || err === undefined) return { message: String(err), stack: '' };
  if (typeof err !== 'object') return { message: String(err), stack: '' };
  const message = typeof err.message === 'string' ? err.message : String(err);
  const stack = typeof err.stack === 'string' ? err.stack : '';
  return { message, stack };
}

/** Collects results and writes the per-rank JSON file. */
function attachCollector(runner) {
  const results = {
    rank: RANK,
    size: SIZE,
    pid: process.pid,
    complete: false,
    passed: [],
    failed: [],
    pending: [],
  };
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    const dir = process.env.HVD_TEST_RESULTS_DIR;
    if (!dir) return;
    try {
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `results-${RANK}.json`);
      // Write-then-rename so a reader never sees a half-written file.
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(results));
      fs.renameSync(`${file}.tmp`, file);
    } catch (e) {
      process.stderr.write(`[hvd reporter] rank ${RANK}: cannot write results: ${e.message}\n`);
    }
  };

  // running-<rank>.txt names the test or hook in progress, so a run killed
  // for hanging (even with a blocked event loop) can say where it hung.
  const dir = process.env.HVD_TEST_RESULTS_DIR;
  const running = (what) => {
    if (!dir) return;
    try {
      fs.writeFileSync(path.join(dir, `running-${RANK}.txt`), what);
    } catch {
      /* best effort */
    }
  };
  runner.on(EVENT_TEST_BEGIN, (test) => running(test.fullTitle()));
  runner.on(EVENT_HOOK_BEGIN, (hook) => running(hook.fullTitle()));

  runner.on(EVENT_TEST_PASS, (test) => {
    results.passed.push(test.fullTitle());
  });
  runner.on(EVENT_TEST_FAIL, (test, err) => {
    results.failed.push({ title: test.fullTitle(), ...errorInfo(err), file: test.file || null });
  });
  runner.on(EVENT_TEST_PENDING, (test) => {
    results.pending.push(test.fullTitle());
  });
  runner.once(EVENT_RUN_END, () => {
    results.complete = true;
    write();
  });
  // A process that dies before 'end' (process.exit in a test, MPI abort
  // through exit handlers) still leaves a record of what it got through.
  process.once('exit', write);
  return results;
}

/** Rank 0: mocha's spec output plus the results file. */
class RankZeroReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    attachCollector(runner);
  }
}

/** Ranks > 0: failures only, tagged with the rank. */
class OtherRankReporter extends Base {
  constructor(runner, options) {
    super(runner, options);
    const results = attachCollector(runner);
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      const { message, stack } = errorInfo(err);
      const body = stack && stack.includes(message) ? stack : `${message}\n${stack}`;
      const indented = body
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n');
      Base.consoleLog(Base.color('fail', `[rank ${RANK}] FAILED: ${test.fullTitle()}`));
      Base.consoleLog(Base.color('error stack', indented));
    });
    runner.once(EVENT_RUN_END, () => {
      if (results.failed.length) {
        Base.consoleLog(
          Base.color('fail', `[rank ${RANK}] ${results.failed.length} failing, ${results.passed.length} passing`),
        );
      }
    });
  }
}

const Reporter = RANK === 0 ? RankZeroReporter : OtherRankReporter;
Reporter.description = 'hvd: spec on rank 0, failures only on other ranks, JSON results per rank';
module.exports = Reporter;
