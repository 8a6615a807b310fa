/**
 * Error codes carried by {@link HorovodError}. Every rank that fails the
 * same collective reports the same code and message.
 */
export type HorovodErrorCode =
  | 'HVD_NOT_INITIALIZED'
  | 'HVD_SHUT_DOWN'
  | 'HVD_MISMATCH'
  | 'HVD_DUPLICATE_NAME'
  | 'HVD_MPI_ERROR'
  | 'HVD_ABORTED'
  | 'HVD_INVALID_ARGUMENT'
  | 'HVD_INTERNAL'
  | 'HVD_LOAD_ERROR'
  | 'HVD_START_TIMEOUT';

/**
 * An error raised by hvd itself (as opposed to a TypeError/RangeError for a
 * bad argument). `code` says what kind; the message names the tensor, the
 * ranks and what differs where that applies.
 *
 * @example
 * try { await hvd.allreduce(x, { name: 'w' }); }
 * catch (e) { if (e instanceof hvd.HorovodError && e.code === 'HVD_MISMATCH') ... }
 */
export class HorovodError extends Error {
  readonly code: HorovodErrorCode;
  constructor(message: string, code: HorovodErrorCode) {
    super(message);
    this.name = 'HorovodError';
    this.code = code;
  }
}

/**
 * Native errors already arrive as HorovodError (src/native.ts hands the
 * class to the addon with setErrorConstructor). For Promise calls, which
 * settle from the engine thread with no JS stack, `callSite` (captured where
 * the user called us) supplies the stack, so an async failure still points
 * at the user's line. Anything else passes through.
 */
export function fromNative(e: unknown, callSite?: { stack?: string }): Error {
  if (e instanceof HorovodError) {
    if (callSite?.stack) {
      const frames = callSite.stack.split('\n').slice(1).join('\n');
      e.stack = `${e.name}: ${e.message}\n${frames}`;
    }
    return e;
  }
  return e instanceof Error ? e : new Error(String(e));
}

export function notInitialized(): HorovodError {
  return new HorovodError(
    'hvd is not initialized: call hvd.init() before using collectives or rank()/size()',
    'HVD_NOT_INITIALIZED',
  );
}

export function shutDown(): HorovodError {
  return new HorovodError(
    'hvd has been shut down: no collective can run after hvd.shutdown(), and MPI cannot be restarted in the same process',
    'HVD_SHUT_DOWN',
  );
}
