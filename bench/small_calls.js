// Small allreduce calls at np=2, alternating within each round:
//   fresh   allreduceSync(x, {op})           a new result array per call, unnamed
//   out     allreduceSync(x, {op, out})      into a reused array
//   named   allreduceSync(x, {op, name})     one name for every call (as gradients are)
//   await   await allreduce(x, {op, name})   the Promise form (1,000 calls a round)
//
//   mpirun -np 2 node bench/small_calls.js [path to hvd]
// Prints the median over 5 rounds, in µs per call, on rank 0.
const hvd = require(process.argv[2] || "..");
hvd.init();
const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
const sizes = [1, 16, 64, 256, 1024];
const res = {};
(async () => {
  for (let round = 0; round < 5; round++) {
    for (const n of sizes) for (const mode of ['fresh', 'out', 'named', 'await']) {
      const x = new Float32Array(n), o = new Float32Array(n);
      const opt = mode === 'out' ? { op: 'sum', out: o } : mode === 'fresh' ? { op: 'sum' } : { op: 'sum', name: `small.${mode}` };
      const calls = mode === 'await' ? 1000 : 10000;
      const step = mode === 'await' ? () => hvd.allreduce(x, opt) : () => hvd.allreduceSync(x, opt);
      for (let i = 0; i < calls / 10; i++) await step();
      hvd.barrierSync();
      const t = process.hrtime.bigint();
      if (mode === 'await') for (let i = 0; i < calls; i++) await step();
      else for (let i = 0; i < calls; i++) step();
      (res[`${n * 4}B ${mode}`] ??= []).push(Number(process.hrtime.bigint() - t) / 1e3 / calls);
    }
  }
  if (hvd.rank() === 0) for (const k in res) console.log(k.padEnd(12), med(res[k]).toFixed(2));
  hvd.shutdown();
})();
