// Packing: several tensors travel as one buffer per dtype, members back to
// back in input order, so a group costs one request per dtype instead of one
// per member. groupedAllreduce, src/tfjs/broadcast.ts (variables, model
// weights, optimizer state) and DistributedOptimizer (gradients) all pack
// through this module:
//
//   const layout = packLayout(specs);      // where each member goes
//   const buffers = pack(layout, specs);   // copy the members in (fresh buffers, or `into`)
//   ... one collective per buffer ...
//   const parts = unpack(layout, results); // one view (or copy) per member
//
// Buckets are ordered by dtype name, so every rank that packs the same
// members submits the same collectives in the same order.
import { DTypeName, HvdTypedArray, readSync, TensorSpec } from '../tensor';
import { outputArray } from './buffers';

type Ctor = TensorSpec['ctor'];

/** One packed buffer: every member of one dtype. */
export interface PackedBucket {
  dtype: DTypeName;
  ctor: Ctor;
  /** Elements in the buffer (the members' lengths added up). */
  length: number;
}

/** Where one member lives: bucket index, element offset and length, and its shape. */
export interface PackedMember {
  bucket: number;
  offset: number;
  length: number;
  shape: number[];
}

export interface PackLayout {
  buckets: PackedBucket[];
  /** In input order. */
  members: PackedMember[];
}

function elements(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Lays `specs` out into one bucket per dtype (buckets sorted by dtype name). */
export function packLayout(specs: TensorSpec[]): PackLayout {
  const dtypes = [...new Set(specs.map((s) => s.dtype))].sort();
  const buckets: PackedBucket[] = dtypes.map((dtype) => ({ dtype, ctor: specs.find((s) => s.dtype === dtype)!.ctor, length: 0 }));
  const members = specs.map((s) => {
    const bucket = dtypes.indexOf(s.dtype);
    const length = elements(s.shape);
    const m = { bucket, offset: buckets[bucket].length, length, shape: s.shape.slice() };
    buckets[bucket].length += length;
    return m;
  });
  return { buckets, members };
}

/**
 * The one place a pack buffer comes from (a bucket's worth of elements,
 * entirely overwritten by pack()).
 */
export function packBuffer(bucket: PackedBucket): HvdTypedArray {
  return outputArray(bucket.ctor, bucket.length);
}

/** True when `buffers` can hold `layout`'s buckets (same types and lengths). */
export function fits(layout: PackLayout, buffers: HvdTypedArray[] | null | undefined): buffers is HvdTypedArray[] {
  if (!buffers || buffers.length !== layout.buckets.length) return false;
  return layout.buckets.every((b, i) => buffers[i].length === b.length && buffers[i] instanceof (b.ctor as unknown as typeof Float32Array));
}

/**
 * Copies each member's data into its bucket: into `into` when it fits the
 * layout, else into fresh buffers from {@link packBuffer}. Returns the buffers.
 * `read` may supply a member's data without allocating (a view to copy from
 * at once); when it returns null the member is read with readSync.
 */
export function pack(
  layout: PackLayout,
  specs: TensorSpec[],
  into?: HvdTypedArray[] | null,
  read?: (spec: TensorSpec) => HvdTypedArray | null,
): HvdTypedArray[] {
  const buffers = fits(layout, into) ? into : layout.buckets.map(packBuffer);
  layout.members.forEach((m, i) => {
    if (m.length === 0) return;
    const data = read?.(specs[i]) ?? readSync(specs[i]);
    (buffers[m.bucket] as Float32Array).set(data as Float32Array, m.offset);
  });
  return buffers;
}

/**
 * Each member's elements in `buffers` (laid out as `layout`), in input
 * order: views into them, or copies with `copy` (for values that must
 * outlive the buffers, such as tensors handed to tfjs's assign()).
 */
export function unpack(layout: PackLayout, buffers: HvdTypedArray[], copy = false): HvdTypedArray[] {
  return layout.members.map((m) => {
    const b = buffers[m.bucket];
    return (copy ? b.slice(m.offset, m.offset + m.length) : b.subarray(m.offset, m.offset + m.length)) as HvdTypedArray;
  });
}

/**
 * A text form of the layout (`{float32: [2,3] [4]; int32: [1]}`): part of a
 * group's key, so ranks whose groups are laid out differently fail with
 * HVD_MISMATCH instead of reducing misaligned members.
 */
export function layoutKey(layout: PackLayout): string {
  const parts = layout.buckets.map((b, bi) => {
    const shapes = layout.members.filter((m) => m.bucket === bi).map((m) => `[${m.shape.join(',')}]`);
    return `${b.dtype}: ${shapes.join(' ')}`;
  });
  return `{${parts.join('; ')}}`;
}
