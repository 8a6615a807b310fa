'use strict';
// Bad input gets a TypeError or RangeError naming the argument, thrown
// synchronously on the calling rank only, and the next collective works.
// Nothing here reaches the engine, so ranks stay in step.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { tfCore } = require('../support/util');

function detachedArray() {
  const buf = new ArrayBuffer(8);
  const view = new Float32Array(buf);
  structuredClone(buf, { transfer: [buf] });
  return view;
}

const f = () => new Float32Array([1, 2]);
const n = () => hvd.size();

// [what, call, ErrorClass, pattern the message must match]
const CASES = [
  ['allreduceSync(null)', () => hvd.allreduceSync(null), TypeError, /tensor must be a TypedArray.*got null/],
  ['allreduceSync(undefined)', () => hvd.allreduceSync(undefined), TypeError, /tensor/],
  ['allreduceSync(plain array)', () => hvd.allreduceSync([1, 2, 3]), TypeError, /tensor.*plain Array/],
  ['allreduceSync(number)', () => hvd.allreduceSync(3), TypeError, /tensor/],
  ['allreduceSync(string)', () => hvd.allreduceSync('abc'), TypeError, /tensor/],
  ['allreduceSync(DataView)', () => hvd.allreduceSync(new DataView(new ArrayBuffer(8))), TypeError, /tensor/],
  ['allreduceSync(Uint8ClampedArray)', () => hvd.allreduceSync(new Uint8ClampedArray(2), { op: 'sum' }), TypeError, /tensor.*Uint8ClampedArray/],
  ['allreduceSync(ArrayBuffer)', () => hvd.allreduceSync(new ArrayBuffer(8)), TypeError, /tensor/],
  ['allreduceSync(detached)', () => hvd.allreduceSync(detachedArray()), TypeError, /tensor.*detached/],
  ['allreduceSync(SharedArrayBuffer view)', () => hvd.allreduceSync(new Float32Array(new SharedArrayBuffer(8))), TypeError, /tensor.*SharedArrayBuffer/],
  ['allreduce(null) (Promise form throws synchronously)', () => hvd.allreduce(null), TypeError, /tensor/],
  ['unknown op', () => hvd.allreduceSync(f(), { op: 'mean' }), RangeError, /options\.op.*'mean'/],
  ['op not a string', () => hvd.allreduceSync(f(), { op: 1 }), TypeError, /options\.op/],
  ['op an Object.prototype key', () => hvd.allreduceSync(f(), { op: 'toString' }), RangeError, /options\.op.*'toString'/],
  ['op an Object.prototype key (reducescatter)', () => hvd.reducescatterSync(f(), { op: 'constructor' }), RangeError, /options\.op.*'constructor'/],
  ['op an Object.prototype key (Promise form)', () => hvd.allreduce(f(), { op: 'hasOwnProperty' }), RangeError, /options\.op/],
  ['average on Int32Array', () => hvd.allreduceSync(new Int32Array(2)), TypeError, /average.*int32/],
  ['average on BigInt64Array', () => hvd.allreduceSync(new BigInt64Array(2), { op: 'average' }), TypeError, /average.*int64/],
  ['prescale NaN', () => hvd.allreduceSync(f(), { prescaleFactor: NaN }), RangeError, /prescaleFactor.*finite/],
  ['postscale Infinity', () => hvd.allreduceSync(f(), { postscaleFactor: Infinity }), RangeError, /postscaleFactor.*finite/],
  ['prescale string', () => hvd.allreduceSync(f(), { prescaleFactor: '2' }), TypeError, /prescaleFactor/],
  ['name not a string', () => hvd.allreduceSync(f(), { name: 42 }), TypeError, /options\.name/],
  ['empty name', () => hvd.allreduceSync(f(), { name: '' }), RangeError, /options\.name/],
  ['options not an object', () => hvd.allreduceSync(f(), 'sum'), TypeError, /options must be an object/],
  ['options null', () => hvd.allreduceSync(f(), null), TypeError, /options must be an object/],
  ['unknown option', () => hvd.allreduceSync(f(), { ops: 'sum' }), TypeError, /unknown option 'ops'/],
  ['shape not matching length', () => hvd.allreduceSync(f(), { shape: [3] }), RangeError, /shape.*3 elements/],
  ['shape with a negative dim', () => hvd.allreduceSync(f(), { shape: [-2] }), RangeError, /shape/],
  ['shape not an array', () => hvd.allreduceSync(f(), { shape: 2 }), TypeError, /shape/],
  ['groupedAllreduceSync(not an array)', () => hvd.groupedAllreduceSync(f()), TypeError, /tensors must be an array/],
  ['groupedAllreduceSync([])', () => hvd.groupedAllreduceSync([]), RangeError, /tensors must not be empty/],
  ['groupedAllreduceSync([ok, null])', () => hvd.groupedAllreduceSync([f(), null]), TypeError, /tensors\[1\]/],
  ['groupedAllreduce average on ints', () => hvd.groupedAllreduce([f(), new Int16Array(1)]), TypeError, /tensors\[1\]/],
  ['groupedAllreduce unknown option', () => hvd.groupedAllreduce([f()], { shape: [2] }), TypeError, /unknown option 'shape'/],
  ['allgatherSync(null)', () => hvd.allgatherSync(null), TypeError, /tensor/],
  ['allgather(plain array)', () => hvd.allgather([1]), TypeError, /tensor/],
  ['allgather scalar shape', () => hvd.allgatherSync(new Float32Array(1), { shape: [] }), RangeError, /at least one dimension/],
  ['allgather unknown option', () => hvd.allgatherSync(f(), { op: 'sum' }), TypeError, /unknown option 'op'/],
  ['broadcastSync root missing', () => hvd.broadcastSync(f()), TypeError, /rootRank must be a number/],
  ['broadcastSync root = size', () => hvd.broadcastSync(f(), n()), RangeError, /rootRank.*\[0, \d+\)/],
  ['broadcastSync root = -1', () => hvd.broadcastSync(f(), -1), RangeError, /rootRank/],
  ['broadcastSync root = 0.5', () => hvd.broadcastSync(f(), 0.5), RangeError, /rootRank/],
  ['broadcast root string', () => hvd.broadcast(f(), '0'), TypeError, /rootRank/],
  ['broadcast(null, 0)', () => hvd.broadcast(null, 0), TypeError, /tensor/],
  ['broadcastObject bad root', () => hvd.broadcastObject({}, n() + 3), RangeError, /rootRank/],
  ['broadcastObjectSync name not a string', () => hvd.broadcastObjectSync({}, 0, { name: 5 }), TypeError, /options\.name/],
  ['allgatherObject symbol value', () => hvd.allgatherObject(Symbol('x')), TypeError, /structured clone/],
  ['allgatherObjectSync bad options', () => hvd.allgatherObjectSync(1, { name: 7 }), TypeError, /options\.name/],
  ['barrier bad options', () => hvd.barrier({ nmae: 'x' }), TypeError, /unknown option 'nmae'/],
  ['barrierSync name number', () => hvd.barrierSync({ name: 1 }), TypeError, /options\.name/],
  ['bool tensor with prescale', () => hvd.allreduceSync(tfCore().tensor([1, 0], [2], 'bool'), { op: 'max', prescaleFactor: 2 }), TypeError, /bool/],
  ['disposed tensor', () => { const tf = tfCore(); const t = tf.tensor([1]); t.dispose(); return hvd.allreduceSync(t); }, TypeError, /disposed/],
  ['string tensor', () => hvd.allreduceSync(tfCore().tensor(['a'])), TypeError, /dtype 'string'/],
  ['tensor with shape option', () => hvd.allreduceSync(tfCore().tensor([1]), { shape: [1] }), TypeError, /shape option/],
];

describe('bad input', function () {
  it(`covers at least 40 bad calls (${CASES.length})`, function () {
    assert.ok(CASES.length >= 40);
  });

  for (const [what, call, ErrorClass, pattern] of CASES) {
    it(`${what} -> ${ErrorClass.name}`, function () {
      let thrown;
      try {
        const r = call();
        if (r && typeof r.then === 'function') r.catch(() => {});
      } catch (e) {
        thrown = e;
      }
      assert.ok(thrown, 'expected a synchronous throw');
      assert.ok(thrown instanceof ErrorClass, `expected ${ErrorClass.name}, got ${thrown && thrown.constructor.name}: ${thrown && thrown.message}`);
      assert.match(thrown.message, pattern);
      assert.match(thrown.message, /^[A-Za-z]+: /, 'the message starts with the name of the function called');
      // The process keeps working: a valid collective right after succeeds.
      const ok = hvd.allreduceSync(new Float32Array([2]), { op: 'sum' });
      assert.equal(ok[0], 2 * hvd.size());
    });
  }
});
