'use strict';
// The hvd side's warm-up rules, shared by bench/allreduce_hvd.js and
// bench/interleaved.js (bench/README.md, Method, step 1): every rank makes
// the same number of calls (rank 0 decides), and a warm-up lasts until hvd's
// pool has stopped mapping blocks and rank 0 has settled the algorithm for
// the size.

// The longest the warm-up waits for the pool to stop growing and the
// algorithm choice to settle, in seconds.
const WARMUP_MAX_S = 5;

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

/** Helpers bound to one hvd module. */
function warmup(hvd) {
  /** rank 0's value of x on every rank (the calibration decision). */
  function fromRoot(x) {
    return hvd.broadcastSync(new Float64Array([x]), 0, { name: 'bench.calibrate' })[0];
  }

  /** This rank's pool misses so far (0 on a build without the pool counters). */
  function poolMisses() {
    const m = hvd.engineStats().poolMisses;
    return typeof m === 'number' ? m : 0;
  }

  /**
   * Rank 0's measured algorithm choice for the size class of `bytes`, in
   * place or not, into fresh results or not (engineStats().algorithmChoices;
   * a build without freshOutput matches either): { algorithm, usPerMiB } with algorithm
   * null while still measuring, or undefined where nothing is measured (other
   * ranks, a forced algorithm, HVD_RING_THRESHOLD_BYTES set, small sizes).
   */
  function algorithmChoice(bytes, inPlace, fresh = false) {
    if (!(bytes > 0)) return undefined;
    const choices = hvd.engineStats().algorithmChoices;
    if (!Array.isArray(choices)) return undefined;
    return choices.find(
      (c) => c.processSet === 0 && c.minBytes <= bytes && bytes < c.maxBytes && c.inPlace === inPlace && (c.freshOutput === undefined || c.freshOutput === (fresh && !inPlace)),
    );
  }

  /**
   * Whether the warm-up must go on, with the same answer on every rank (so
   * every rank makes the same number of calls): some rank took a new pool
   * block since `before` (its own count), or rank 0 is still measuring the
   * algorithm for `bytes` (in place or not, fresh results or not); and there is time left.
   */
  function warmupUnfinished(before, spent, bytes, inPlace, fresh) {
    const c = algorithmChoice(bytes, inPlace, fresh);
    const busy = poolMisses() - before > 0 || (c !== undefined && c.algorithm === null) ? 1 : 0;
    const any = hvd.allreduceSync(new Int32Array([busy]), { op: 'max', name: 'bench.warm' })[0];
    return any > 0 && spent < WARMUP_MAX_S;
  }

  /**
   * Warm-up and calibration of `runBatch(k)` (seconds for k calls, on this
   * rank): batches of 1, 2, 4, ... calls, each after a barrier, until
   * `warmupS` has passed on rank 0 (at least `minWarmup` calls) and, for an
   * hvd step (`pool`, the default), `warmupUnfinished` for `bytes` says done
   * (`inPlace`, `fresh`: the step's calls are in place, or return new results). Returns
   * { est (rank 0's seconds per call), spent, warm (calls), poolMisses }.
   */
  async function calibrate(runBatch, { warmupS, minWarmup, pool = true, bytes, inPlace = false, fresh = false }) {
    let est = 0;
    let spent = 0;
    let warm = 0;
    const misses0 = poolMisses();
    for (let k = 1; ; k *= 2) {
      hvd.barrierSync({ name: 'bench.barrier' });
      const m = poolMisses();
      const dt = fromRoot(await runBatch(k));
      est = dt / k;
      spent += dt;
      warm += k;
      if (k >= 1 << 20) break;
      if (spent < warmupS || warm < minWarmup) continue;
      // Steady state also means hvd's pool is warm: a batch in which no rank
      // took a new block. The C program's buffers are allocated and touched
      // before its warm-up; a new huge-page block costs this VM about 5 ms per
      // MiB on first touch (bench/README.md, Method). And it means rank 0 has
      // settled the algorithm for this size (it alternates ring and MPI on the
      // first calls of a size class, native/ops/algorithm.h).
      if (!pool || !warmupUnfinished(m, spent, bytes, inPlace, fresh)) break;
    }
    return { est, spent, warm, poolMisses: poolMisses() - misses0 };
  }

  return { fromRoot, poolMisses, algorithmChoice, calibrate };
}

module.exports = { median, warmup };
