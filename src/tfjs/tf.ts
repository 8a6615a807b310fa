// tfjs is an optional peer dependency: it is loaded on first use, from the
// application's own install, so hvd's classes and tensors belong to the same
// tfjs instance the application uses (tfjs-layers checks callbacks with a
// real instanceof, so a second copy would silently break them).
import type * as tfTypes from '@tensorflow/tfjs';

export type Tf = typeof tfTypes;
let cached: Tf | undefined;

const CANDIDATES = ['@tensorflow/tfjs', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

/**
 * The application's tfjs: whichever of @tensorflow/tfjs, tfjs-node or
 * tfjs-node-gpu it has already loaded, else the first that can be loaded.
 * (tfjs-node re-exports @tensorflow/tfjs, so classes are shared either way.)
 */
export function tfjs(): Tf {
  if (cached) return cached;
  for (const name of CANDIDATES) {
    try {
      const resolved = require.resolve(name);
      if (require.cache[resolved]) {
        cached = require.cache[resolved]!.exports as Tf;
        return cached;
      }
    } catch {
      /* not installed */
    }
  }
  const errors: string[] = [];
  for (const name of CANDIDATES) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(name) as Tf;
      return cached;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `hvd's TensorFlow.js integration needs @tensorflow/tfjs (or @tensorflow/tfjs-node) installed next to hvd:\n  ${errors.join('\n  ')}`,
  );
}

/** Lets an application that loaded a specific tfjs build hand it to hvd. */
export function useTfjs(tf: Tf): void {
  cached = tf;
}
