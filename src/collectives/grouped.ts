// What groupedAllgather and groupedReducescatter share: one request per
// member, negotiated together under one group key, results in input order.
// (groupedAllreduce packs its members instead: see allreduce.ts.)
import { NativeOptions } from '../native';
import { resolveSet } from '../process_sets';
import { inspect, inspectTyped, TensorSpec, toItem } from '../tensor';
import { nameOf } from './naming';
import { Call, engineResult } from './submit';
import { checkHasFirstDim, checkOptions, checkReducible, checkReduction, checkTensorList, reductionOptions } from './validation';

/**
 * Validates a group of `kind` and returns its engine call. `reduce` adds the
 * reduction options (op, scale factors) and checks.
 */
export function groupCall<T>(kind: number, group: string, reduce: boolean, tensors: unknown, options: unknown, fn: string): Call<T[]> {
  const opts = checkOptions(options, reduce ? ['op', 'name', 'prescaleFactor', 'postscaleFactor'] : ['name'], fn);
  const list = checkTensorList(tensors, fn);
  const r = reduce ? checkReduction(opts, fn) : null;
  const specs: TensorSpec[] = list.map((t, i) => {
    const spec = inspectTyped(t) ?? inspect(t, `tensors[${i}]`);
    checkHasFirstDim(spec, `${fn}: tensors[${i}]`, '');
    if (r) checkReducible(spec, r, `tensors[${i}]`, fn);
    return spec;
  });
  const name = nameOf(opts, group, fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  // The member count is part of the group's key, so ranks whose groups
  // differ in length fail with HVD_MISMATCH on the members they share.
  const key = `${name} (${specs.length} members)`;
  const native: NativeOptions = r ? reductionOptions(r, processSet, key) : { group: key, processSet };
  const names = specs.map((_, i) => `${name}.${i}`);
  return {
    kind,
    fn,
    names,
    options: native,
    specs,
    items: (inputs) => specs.map((s, i) => toItem(names[i], s, inputs[i])),
    result: (rs) => rs.map((res, i) => engineResult<T>(specs[i], res)),
  };
}
