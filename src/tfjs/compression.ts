// Gradient compression for the wire, as in Horovod's hvd.Compression.

/** How DistributedOptimizer carries gradients over the network. */
export interface Compressor {
  readonly name: 'none' | 'fp16';
}

/**
 * `Compression.none` sends float32 as is. `Compression.fp16` converts
 * float32 gradients to IEEE half precision in native code, reduces them in
 * half precision (half the bytes on the wire) and converts back. Values
 * beyond ±65504 overflow to ±Infinity; relative precision is about 1e-3.
 *
 * @example
 * const opt = hvd.DistributedOptimizer(tf.train.adam(1e-3), { compression: hvd.Compression.fp16 });
 */
export const Compression: { readonly none: Compressor; readonly fp16: Compressor } = Object.freeze({
  none: Object.freeze({ name: 'none' as const }),
  fp16: Object.freeze({ name: 'fp16' as const }),
});
