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
  // Plain loops: this runs once per grouped call over every member (100
  // members: the Set/find/indexOf form cost about 20 us).
  const buckets: PackedBucket[] = [];
  for (const s of specs) {
    if (!buckets.some((b) => b.dtype === s.dtype)) buckets.push({ dtype: s.dtype, ctor: s.ctor, length: 0 });
  }
  buckets.sort((a, b) => (a.dtype < b.dtype ? -1 : a.dtype > b.dtype ? 1 : 0));
  const members: PackedMember[] = new Array(specs.length);
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    let bucket = 0;
    while (buckets[bucket].dtype !== s.dtype) bucket++;
    const length = elements(s.shape);
    // specs' shapes are fresh arrays that nothing else writes: no copy.
    members[i] = { bucket, offset: buckets[bucket].length, length, shape: s.shape };
    buckets[bucket].length += length;
  }
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
  for (let i = 0; i < layout.members.length; i++) {
    const m = layout.members[i];
    if (m.length === 0) continue;
    const data = read?.(specs[i]) ?? readSync(specs[i]);
    (buffers[m.bucket] as Float32Array).set(data as Float32Array, m.offset);
  }
  return buffers;
}

/**
 * Each member's elements in `buffers` (laid out as `layout`), in input
 * order: views into them, or copies with `copy` (for values that must
 * outlive the buffers, such as tensors handed to tfjs's assign()).
 */
export function unpack(layout: PackLayout, buffers: HvdTypedArray[], copy = false): HvdTypedArray[] {
  const out: HvdTypedArray[] = new Array(layout.members.length);
  for (let i = 0; i < out.length; i++) {
    const m = layout.members[i];
    const b = buffers[m.bucket];
    if (copy) {
      out[i] = b.slice(m.offset, m.offset + m.length) as HvdTypedArray;
    } else {
      // The constructor rather than subarray(): subarray looks up the
      // species constructor each time (100 views: 7.1 against 3.1-4.5 us).
      const ctor = layout.buckets[m.bucket].ctor as unknown as new (buf: ArrayBufferLike, off: number, len: number) => HvdTypedArray;
      out[i] = new ctor(b.buffer, b.byteOffset + m.offset * b.BYTES_PER_ELEMENT, m.length);
    }
  }
  return out;
}

/**
 * A group of TypedArrays, inspected and laid out once: what a grouped call
 * made again with the same members (a training loop's staging buffers,
 * every step) reuses instead of inspecting each member and laying them out
 * again (100 members: about 20 us a call).
 */
export interface GroupPlan {
  specs: TensorSpec[];
  layout: PackLayout;
  /** layoutKey(layout). */
  key: string;
}

interface PlanEntry {
  members: unknown[];
  lengths: number[];
  plan: GroupPlan;
}

// By the caller's list: an entry lives as long as the list does (a
// WeakMap holds nothing alive), and it serves the list only while the list
// holds the very same arrays with the same lengths. A TypedArray's type,
// buffer and offset never change; its length changes only when its buffer
// is detached (to 0, which no planned member has: inspectTyped refuses
// empty arrays), so identity and length are enough to reuse the checks.
const plans = new WeakMap<unknown[], PlanEntry>();

/** The plan remembered for `list`, when it still holds the members it was made for. */
export function cachedGroupPlan(list: unknown[]): GroupPlan | null {
  const e = plans.get(list);
  if (!e || e.members.length !== list.length) return null;
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (x !== e.members[i] || (x as HvdTypedArray).length !== e.lengths[i]) return null;
  }
  return e.plan;
}

/**
 * Remembers the plan of `list`, whose members are all TypedArrays that
 * inspectTyped accepted (`specs`, in order).
 */
export function rememberGroupPlan(list: unknown[], specs: TensorSpec[]): GroupPlan {
  const layout = packLayout(specs);
  const plan = { specs, layout, key: layoutKey(layout) };
  plans.set(list, { members: list.slice(), lengths: specs.map((s) => s.array!.length), plan });
  return plan;
}

/**
 * A text form of the layout (`{float32: [2,3] [4]; int32: [1]}`): part of a
 * group's key, so ranks whose groups are laid out differently fail with
 * HVD_MISMATCH instead of reducing misaligned members.
 */
export function layoutKey(layout: PackLayout): string {
  // A training loop packs the same layout every step: comparing it with
  // the last few layouts is cheaper than writing its text again.
  for (const c of recentKeys) {
    if (sameLayout(c.layout, layout)) return c.key;
  }
  const key = formatLayout(layout);
  recentKeys.unshift({ layout, key });
  if (recentKeys.length > RECENT_KEYS) recentKeys.pop();
  return key;
}

const RECENT_KEYS = 8;
const recentKeys: Array<{ layout: PackLayout; key: string }> = [];

function sameLayout(a: PackLayout, b: PackLayout): boolean {
  if (a === b) return true;
  if (a.buckets.length !== b.buckets.length || a.members.length !== b.members.length) return false;
  for (let i = 0; i < a.buckets.length; i++) {
    if (a.buckets[i].dtype !== b.buckets[i].dtype || a.buckets[i].length !== b.buckets[i].length) return false;
  }
  for (let i = 0; i < a.members.length; i++) {
    const x = a.members[i];
    const y = b.members[i];
    if (x.bucket !== y.bucket || x.length !== y.length || x.shape.length !== y.shape.length) return false;
    for (let d = 0; d < x.shape.length; d++) if (x.shape[d] !== y.shape[d]) return false;
  }
  return true;
}

function formatLayout(layout: PackLayout): string {
  // One pass with string appends (the filter/map/join form cost about 45 us
  // for 100 members).
  const parts: string[] = layout.buckets.map((b) => `${b.dtype}:`);
  for (const m of layout.members) {
    let dims = '';
    for (let d = 0; d < m.shape.length; d++) dims += d === 0 ? `${m.shape[d]}` : `,${m.shape[d]}`;
    parts[m.bucket] += ` [${dims}]`;
  }
  let key = '{';
  for (let b = 0; b < parts.length; b++) key += b === 0 ? parts[b] : `; ${parts[b]}`;
  return `${key}}`;
}
