// Whether a person is watching this process's output, so that progress bars,
// cursor movement and colours are wanted.
//
// `process.stdout.isTTY` cannot tell under mpirun: Open MPI gives every
// rank's stdout a pseudo-terminal (stderr and stdin are pipes) whatever
// mpirun's own output is connected to, so a rank sees a terminal even when
// the job's log goes to a file, a pipe, `kubectl logs` or a log collector.
// Open MPI 4.1 has no run-time setting for it: the pty is chosen when Open MPI
// is configured (--enable-pty-support, on by default), and ompi_info lists no
// iof/odls parameter that turns it off. So under an MPI launch hvd trusts
// only HVD_PROGRESS=1, which hvdrun (and `npm start`, through hvdrun) set
// when their own stdout is a terminal.
import type { Writable } from 'stream';

/** Variables an MPI launcher sets in every rank (Open MPI, PMIx, MPICH/Hydra, Intel MPI, MVAPICH, Slurm's PMI). */
export const MPI_LAUNCH_VARS: readonly string[] = [
  'OMPI_COMM_WORLD_SIZE',
  'PMIX_RANK',
  'PMI_RANK',
  'PMI_SIZE',
  'MPI_LOCALNRANKS',
  'MV2_COMM_WORLD_SIZE',
];

/** True when this process was started by an MPI launcher (mpirun, mpiexec, srun with PMI). */
export function underMpiLaunch(env: NodeJS.ProcessEnv = process.env): boolean {
  return MPI_LAUNCH_VARS.some((name) => env[name] !== undefined);
}

/**
 * Whether a person is watching `stream` (default stdout), so that progress
 * bars and redraws are wanted: HVD_PROGRESS=1 says yes and HVD_PROGRESS=0
 * no; otherwise, under an MPI launch, no (every rank's stdout is a
 * pseudo-terminal there, even when the job's output goes to a file); outside
 * one, whether `stream` is a terminal.
 *
 * @example
 * const bar = hvd.rank() === 0 && hvd.interactiveOutput() ? new ProgressBar() : null;
 */
export function interactiveOutput(stream: Writable & { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.HVD_PROGRESS === '1') return true;
  if (env.HVD_PROGRESS === '0') return false;
  if (underMpiLaunch(env)) return false;
  return stream.isTTY === true;
}

/**
 * Turns off Node's automatic colours (console.log of objects, util.inspect
 * through the console) when nobody is watching stdout, by setting NO_COLOR
 * for this process and its children; FORCE_COLOR or NO_COLOR set by the user
 * win. Returns whether colours stay allowed. Node decides on colours per
 * call from the stream's isTTY and these variables, which is why a rank
 * under mpirun writes colour codes into log files unless told otherwise.
 *
 * @example
 * hvd.plainOutputUnlessWatched(); // first thing in a training script
 */
export function plainOutputUnlessWatched(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined) return false;
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR);
  if (interactiveOutput(process.stdout, env)) return true;
  env.NO_COLOR = '1';
  return false;
}
