// What `hvdrun --check-build` says about @tensorflow/tfjs-node: installed or
// not, whether its addon and libtensorflow load, and TensorFlow's version.
// It is loaded in a child process: loading TensorFlow takes a second and a
// broken addon can abort the process that loads it.
import { spawnSync } from 'node:child_process';

export interface TfjsNodeStatus {
  /** `require.resolve` finds it (from the working directory or hvd). */
  installed: boolean;
  /** It loaded and its 'tensorflow' backend ran an op. */
  loads: boolean;
  /** tfjs-node's version, when its package.json could be read. */
  version?: string;
  /** TensorFlow's version, as the loaded libtensorflow reports it (TF_Version). */
  tensorflow?: string;
  /** Why it did not load. */
  error?: string;
}

const PROBE = `
const out = {};
try {
  const tf = require(process.argv[1]);
  out.tensorflow = tf.backend().binding.TF_Version;
  out.backend = tf.getBackend();
  tf.add(tf.scalar(1), tf.scalar(2)).dataSync();
  out.loads = true;
} catch (e) {
  out.loads = false;
  out.error = String((e && e.message) || e).split('\\n')[0];
}
process.stdout.write('\\n@@TFJS_NODE ' + JSON.stringify(out) + '\\n');
`;

/**
 * Probes @tensorflow/tfjs-node as resolved from `paths` (default: the
 * working directory, then hvd's own location).
 */
export function tfjsNodeStatus(paths: string[] = [process.cwd(), __dirname], timeoutMs = 60000): TfjsNodeStatus {
  let entry: string;
  try {
    entry = require.resolve('@tensorflow/tfjs-node', { paths });
  } catch {
    return { installed: false, loads: false };
  }
  let version: string | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    version = (require(require.resolve('@tensorflow/tfjs-node/package.json', { paths })) as { version?: string }).version;
  } catch {
    /* an unusual layout: report without it */
  }
  const r = spawnSync(process.execPath, ['-e', PROBE, entry], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
  });
  const line = String(r.stdout ?? '')
    .split('\n')
    .find((l) => l.startsWith('@@TFJS_NODE '));
  if (!line) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    const err = String(r.stderr ?? '').trim().split('\n').pop() ?? '';
    return { installed: true, loads: false, version, error: `loading it crashed (${why})${err ? `: ${err}` : ''}` };
  }
  const res = JSON.parse(line.slice('@@TFJS_NODE '.length)) as { loads: boolean; tensorflow?: string; backend?: string; error?: string };
  if (res.loads && res.backend !== 'tensorflow') {
    return { installed: true, loads: false, version, error: `it loaded but the active backend is '${res.backend}'` };
  }
  return { installed: true, loads: res.loads, version, tensorflow: res.tensorflow, error: res.error };
}

/** The `--check-build` line for a {@link TfjsNodeStatus}, or null when tfjs-node is not installed. */
export function formatTfjsNode(s: TfjsNodeStatus): string | null {
  if (!s.installed) return null;
  const name = `@tensorflow/tfjs-node${s.version ? ` ${s.version}` : ''}`;
  if (s.loads) return `        ${name}: TensorFlow ${s.tensorflow ?? '(version unknown)'}`;
  return `        ${name}: does not load (${s.error ?? 'unknown error'}); in the hvd repo: npm run setup:tfjs-node`;
}
