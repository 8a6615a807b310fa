// What this build of hvd supports, for `hvdrun --check-build` and bug reports.
import * as fs from 'fs';
import * as path from 'path';
import { loadNative, nativePath } from './native';
import { mpiThreadLevel } from './basics';

export type MpiThreadLevel = 'single' | 'funneled' | 'serialized' | 'multiple';

/** Result of {@link buildInfo}. */
export interface BuildInfo {
  /** hvd package version. */
  version: string;
  /** MPI_Get_library_version(), e.g. "Open MPI v4.1.4, ...". */
  mpiLibraryVersion: string;
  /** 'Open MPI', 'MPICH' or 'unknown'. */
  mpiVendor: string;
  /** Thread level MPI granted; null before {@link init}. */
  mpiThreadLevel: MpiThreadLevel | null;
  /** NCCL support compiled in (false in this release: NCCL is planned as a run-time dlopen). */
  ncclBuilt: boolean;
  /** A loadable libnccl.so.2 was found at run time. */
  ncclAvailable: boolean;
  /** Absolute path of the loaded native addon. */
  addonPath: string;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

/**
 * Reports what this build supports; works before {@link init}.
 *
 * @example
 * console.log(hvd.buildInfo().mpiLibraryVersion);
 */
export function buildInfo(): BuildInfo {
  const info = loadNative().buildInfo();
  return {
    version: packageVersion(),
    mpiLibraryVersion: info.mpiLibraryVersion,
    mpiVendor: info.mpiVendor,
    mpiThreadLevel: mpiThreadLevel(),
    ncclBuilt: info.ncclBuilt,
    ncclAvailable: info.ncclAvailable,
    addonPath: nativePath(),
  };
}
