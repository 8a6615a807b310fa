// A custom training loop: tf.variableGrads computes this rank's gradients,
// the wrapped optimizer averages them across ranks and applies them. This
// is the tfjs counterpart of Horovod's DistributedGradientTape.
//
//   mpirun -np 2 node dist/custom_loop.js
import * as hvd from 'hvd';
import type * as tfTypes from '@tensorflow/tfjs';

async function main(): Promise<void> {
  hvd.init();
  hvd.plainOutputUnlessWatched(); // no colour codes in logs under mpirun
  const log = console.log;
  console.log = () => {}; // tfjs's banner about tfjs-node
  const tf = require('@tensorflow/tfjs') as typeof tfTypes;
  console.log = log;
  await tf.setBackend('cpu');

  // Fit y = 3x - 1. Each rank sees its own slice of x; together they cover [-1, 1].
  const per = 64;
  const xs = tf.tidy(() => tf.linspace(-1, 1, per * hvd.size()).slice(hvd.rank() * per, per).reshape([per, 1]));
  const ys = tf.tidy(() => xs.mul(3).sub(1));

  // Start every rank from a different point, then take rank 0's.
  const w = tf.variable(tf.scalar(hvd.rank() + 0.5));
  const b = tf.variable(tf.scalar(-hvd.rank()));
  await hvd.broadcastVariables([w, b], 0);

  const opt = hvd.DistributedOptimizer(tf.train.sgd(0.5));
  for (let step = 0; step < 100; step++) {
    const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(ys, xs.mul(w).add(b)) as tfTypes.Scalar, [w, b]);
    opt.applyGradients(grads); // averaged across ranks inside
    if (step % 25 === 0 && hvd.rank() === 0) console.log(`step ${step}: loss ${value.dataSync()[0].toFixed(6)}`);
    tf.dispose([value, ...Object.values(grads)]);
  }
  const [wv, bv] = [w.dataSync()[0], b.dataSync()[0]];
  const all = await hvd.allgatherObject([wv, bv]);
  if (hvd.rank() === 0) {
    console.log(`w = ${wv.toFixed(4)}, b = ${bv.toFixed(4)} (want 3, -1)`);
    console.log(all.every(([a, c]) => a === wv && c === bv) ? `weights consistent across ${hvd.size()} ranks` : 'WEIGHTS DIFFER');
  }
  hvd.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
