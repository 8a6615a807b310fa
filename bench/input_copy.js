'use strict';
// What copying a Promise collective's input at call time would cost, next to
// the collective itself (issue 8, item 4). Prints one line per size: median
// time of arr.slice() and of `await hvd.allreduce(arr)` on this world.
//   node bench/input_copy.js
//   mpirun -np 2 node bench/input_copy.js
const hvd = require('..');

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  hvd.init();
  const sizes = [256, 4096, 65536, 1 << 20, 16 << 20];
  const rows = [];
  for (const bytes of sizes) {
    const arr = new Float32Array(bytes / 4).fill(1);
    const reps = bytes >= 1 << 20 ? 30 : 300;
    const copy = [];
    for (let i = 0; i < reps; i++) {
      const t = process.hrtime.bigint();
      const c = arr.slice();
      copy.push(Number(process.hrtime.bigint() - t) / 1e3);
      if (c.length !== arr.length) throw new Error('copy');
    }
    const call = [];
    for (let i = 0; i < reps; i++) {
      const t = process.hrtime.bigint();
      await hvd.allreduce(arr, { name: `copy.${bytes}` });
      call.push(Number(process.hrtime.bigint() - t) / 1e3);
    }
    rows.push({ bytes, copy_us: +median(copy).toFixed(2), allreduce_us: +median(call).toFixed(1) });
  }
  if (hvd.rank() === 0) {
    console.log(`size ${hvd.size()}`);
    for (const r of rows) console.log(`${String(r.bytes).padStart(9)} B  copy ${String(r.copy_us).padStart(8)} us  allreduce ${String(r.allreduce_us).padStart(9)} us  copy/allreduce ${(100 * r.copy_us / r.allreduce_us).toFixed(1)}%`);
  }
  hvd.shutdown();
}
main();
