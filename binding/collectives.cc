// JsEnqueue: the single entry point for every collective. The TypeScript
// layer has already validated and normalized the arguments; the checks here
// only keep a bad call from reaching the engine with dangling pointers.
#include <atomic>
#include <cmath>
#include <thread>

#include "addon.h"
#include "engine.h"
#include "errors.h"
#include "js_tensor.h"
#include "ops/op.h"

namespace hvd::binding {
namespace {

// A number argument, or `def` for anything else. One Node-API call: the
// read itself says when the value is not a number (a typeof check first
// was a second call per argument, a dozen per collective).
int32_t GetInt(Napi::Value v, int32_t def) {
  int32_t x = 0;
  return napi_get_value_int32(v.Env(), v, &x) == napi_ok ? x : def;
}

double GetDouble(Napi::Value v, double def) {
  double x = 0;
  return napi_get_value_double(v.Env(), v, &x) == napi_ok ? x : def;
}

// A string argument as UTF-8 (names: one call for the usual short one).
bool GetString(Napi::Value v, std::string* out) {
  char buf[128];
  size_t len = 0;
  if (napi_get_value_string_utf8(v.Env(), v, buf, sizeof(buf), &len) != napi_ok) return false;
  if (len + 1 < sizeof(buf)) {
    out->assign(buf, len);
    return true;
  }
  napi_get_value_string_utf8(v.Env(), v, nullptr, 0, &len);
  out->resize(len);
  napi_get_value_string_utf8(v.Env(), v, out->data(), len + 1, &len);
  return true;
}

// An array of dimensions, or a number: the length of a 1-D shape (the
// small-call path passes that instead of building an array).
std::vector<int64_t> GetShape(Napi::Env env, Napi::Value v) {
  double x = 0;
  if (napi_get_value_double(env, v, &x) == napi_ok) {
    if (!(x >= 0) || std::floor(x) != x) throw Napi::RangeError::New(env, "shape must hold non-negative integers");
    return {static_cast<int64_t>(x)};
  }
  if (!v.IsArray()) throw Napi::TypeError::New(env, "shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> shape(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0) || std::floor(x) != x) {
      throw Napi::RangeError::New(env, "shape must hold non-negative integers");
    }
    shape[i] = static_cast<int64_t>(x);
  }
  return shape;
}

}  // namespace

// enqueue(kind, items, options, blocking)
//   kind: core::CollectiveKind (codes.h)
//   items: [{name, input, output, dtype, shape, splits}]
//   options: {op, root, prescale, postscale, group, processSet}
// enqueueOne(kind, blocking, name, input, output, dtype, shape, splits,
//            op, root, prescale, postscale, processSet, group)
//   the same for one item, as positional arguments: no property reads
//   (about 25 Node-API calls, a few microseconds of a small collective).
// Which buffers an item carries is the op's to say (Op::buffers()).
// Returns the results array (blocking) or a Promise of it.
Napi::Value HvdAddon::JsEnqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsObject() ||
      !info[3].IsBoolean()) {
    throw Napi::TypeError::New(env, "enqueue(kind, items, options, blocking): bad arguments");
  }
  Napi::Array items = info[1].As<Napi::Array>();
  Napi::Object opts = info[2].As<Napi::Object>();
  const size_t n = items.Length();
  napi_value key_values[kNumKeys];
  {
    Napi::Object keys = keys_.Value();
    for (uint32_t k = 0; k < kNumKeys; ++k) key_values[k] = keys.Get(k);
  }
  auto Get = [&key_values](Napi::Object o, Key k) { return o.Get(key_values[k]); };
  CallArgs call{Get(opts, kOp),         Get(opts, kRoot),       Get(opts, kPrescale),
                Get(opts, kPostscale), Get(opts, kProcessSet), Get(opts, kGroup)};
  std::vector<ItemArgs> args(n);
  for (size_t i = 0; i < n; ++i) {
    Napi::Value iv = items.Get(static_cast<uint32_t>(i));
    if (!iv.IsObject()) throw Napi::TypeError::New(env, "enqueue: item must be an object");
    Napi::Object item = iv.As<Napi::Object>();
    args[i] = {Get(item, kName), Get(item, kInput), Get(item, kOutput),
               Get(item, kDtype), Get(item, kShape), Get(item, kSplits)};
  }
  return Submit(env, info[0], args, call, info[3].As<Napi::Boolean>().Value());
}

Napi::Value HvdAddon::JsEnqueueOne(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 14 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    throw Napi::TypeError::New(env, "enqueueOne(kind, blocking, name, input, output, dtype, shape, splits, op, root, "
                                    "prescale, postscale, processSet, group): bad arguments");
  }
  std::vector<ItemArgs> args{{info[2], info[3], info[4], info[5], info[6], info[7]}};
  CallArgs call{info[8], info[9], info[10], info[11], info[12], info[13]};
  return Submit(env, info[0], args, call, info[1].As<Napi::Boolean>().Value());
}

Napi::Value HvdAddon::Submit(Napi::Env env, Napi::Value kind_arg, const std::vector<ItemArgs>& items,
                             const CallArgs& opts, bool blocking) {
  if (!completion_) {
    throw StatusToJsError(env, core::Status::Error(core::StatusType::kNotInitialized,
                                                   "hvd is not initialized: call hvd.init() "
                                                   "before any collective"));
  }
  const int kind_value = kind_arg.As<Napi::Number>().Int32Value();
  if (kind_value < 0 || kind_value >= core::kNumCollectiveKinds) throw Napi::RangeError::New(env, "enqueue: unknown kind");
  const auto kind = static_cast<core::CollectiveKind>(kind_value);
  const core::Op::Buffers buffers = core::OpFor(kind).buffers();
  const size_t n = items.size();
  if (n == 0) throw Napi::RangeError::New(env, "enqueue: no tensors");

  std::shared_ptr<PendingCall> call = NewCall(n, blocking);
  std::unique_ptr<JsHandles> js;
  if (!blocking) js = std::make_unique<JsHandles>(env);

  const int op_value = GetInt(opts.op, 1);
  if (op_value < 0 || op_value >= core::kNumReduceOps) throw Napi::RangeError::New(env, "enqueue: unknown reduce op");
  const auto op = static_cast<core::ReduceOp>(op_value);
  const int32_t root = GetInt(opts.root, 0);
  const double prescale = GetDouble(opts.prescale, 1.0);
  const double postscale = GetDouble(opts.postscale, 1.0);
  const int32_t set = GetInt(opts.process_set, 0);
  std::string group;
  if (opts.group.IsString()) group = opts.group.As<Napi::String>().Utf8Value();

  std::vector<core::TensorTableEntry> entries(n);
  for (size_t i = 0; i < n; ++i) {
    const ItemArgs& item = items[i];
    core::TensorTableEntry& e = entries[i];
    if (!GetString(item.name, &e.request.name)) throw Napi::TypeError::New(env, "name must be a string");
    e.request.kind = kind;
    e.request.dtype = static_cast<core::DataType>(GetInt(item.dtype, 8));
    if (static_cast<int>(e.request.dtype) >= core::kNumDataTypes) {
      throw Napi::RangeError::New(env, "dtype out of range");
    }
    e.request.shape = GetShape(env, item.shape);
    Napi::Value splits = item.splits;
    if (!splits.IsUndefined()) e.request.splits = GetShape(env, splits);
    e.request.op = op;
    e.request.root = root;
    e.request.prescale = prescale;
    e.request.postscale = postscale;
    e.request.group = group;
    e.request.group_size = group.empty() ? 0 : static_cast<int32_t>(n);
    e.blocking = blocking;

    const size_t expected =
        static_cast<size_t>(core::NumElements(e.request.shape)) * core::DataTypeSize(e.request.dtype);
    Napi::Value in = item.input;
    if (buffers != core::Op::Buffers::kNone) {
      JsTensor t = ToJsTensor(env, in, e.request.dtype, "input");
      if (t.byte_length != expected) {
        throw Napi::RangeError::New(env, "input length does not match shape " +
                                             core::ShapeToString(e.request.shape));
      }
      e.input = t.data;
      if (js) js->keep_alive.push_back(Napi::Persistent(in));
    }
    if (buffers == core::Op::Buffers::kInputOutput) {
      Napi::Value out = item.output;
      JsTensor t = ToJsTensor(env, out, e.request.dtype, "output");
      if (t.byte_length != expected) throw Napi::RangeError::New(env, "output length does not match input");
      e.output = t.data;
      if (js) js->keep_alive.push_back(Napi::Persistent(out));
    }
    bool has_out = false;
    if (buffers == core::Op::Buffers::kInput) {
      // The caller's `out` for an op that sizes its result after
      // negotiation: written only when the result has exactly its size.
      Napi::Value out = item.output;
      if (!out.IsUndefined() && !out.IsNull()) {
        JsTensor t = ToJsTensor(env, out, e.request.dtype, "options.out");
        e.output = t.data;
        e.output_bytes = t.byte_length;
        has_out = true;
        if (js) js->keep_alive.push_back(Napi::Persistent(out));
      }
    }
    if (blocking && buffers == core::Op::Buffers::kInput && !has_out) {
      // The op allocates the result: when hvd's pool is full, have it write
      // into a JS-heap Buffer (completion.h). Raw pointer: the call outlives its entries (they
      // hold `call`).
      PendingCall* c = call.get();
      e.allocate_output = [c, i](size_t bytes) { return c->AllocateOutput(i, bytes); };
    }
    // The entry owns the call; the callback holds a plain pointer (no
    // allocation for std::function: a shared_ptr capture is not trivially
    // copyable, so it would be stored on the heap).
    e.owner = call;
    e.done = [c = call.get(), i](const core::Status& s, core::CollectiveResult&& r) {
      c->Finish(i, s, std::move(r));
    };
  }

  Napi::Value promise;
  if (!blocking) {
    promise = js->deferred.Promise();
    call->js = std::move(js);
    completion_->AddPending(env);
  }
  core::Status s;
  // A Sync call runs the engine loop itself when the engine thread is free
  // (Engine::DriveSync); otherwise, and for Promises, the engine thread does.
  if (blocking) call->waiter = std::this_thread::get_id();
  if (!blocking || !engine_->DriveSync(set, &entries, call->done, &s)) s = engine_->Enqueue(set, std::move(entries));
  // A Promise call's request leaves now when the loop is free (Engine::SendNow).
  if (!blocking && s.ok()) engine_->SendNow();
  if (!s.ok()) {
    if (!blocking) {
      call->js.reset();
      completion_->RemovePending(env);
    }
    throw StatusToJsError(env, s);
  }
  if (!blocking) return promise;
  if (!call->done.load(std::memory_order_acquire)) call->Wait(env);
  if (!call->status.ok()) throw StatusToJsError(env, call->status);
  if (!call->OutputError().empty()) throw Napi::RangeError::New(env, call->OutputError());
  Napi::Value results;
  if (call->results.size() == 1 && call->results[0].kind == core::CollectiveResult::Kind::kNone) {
    // Most Sync calls (allreduce, broadcast) return nothing: one frozen
    // [undefined], made once, instead of a new array per call.
    if (none_result_.IsEmpty()) {
      Napi::Array a = Napi::Array::New(env, 1);
      a.Set(0u, env.Undefined());
      napi_object_freeze(env, a);
      none_result_ = Napi::Persistent(a);
    }
    results = none_result_.Value();
  } else {
    results = ResultsToJs(env, *call);
  }
  spare_sync_ = std::move(call);
  return results;
}

// A Sync call's PendingCall, reused by the next one once nothing else holds
// it (the engine drops its entries, and with them their references, after
// running their callbacks): a Sync call on this thread cannot start while
// another is in progress. Promise calls live until their settlement.
std::shared_ptr<PendingCall> HvdAddon::NewCall(size_t n, bool blocking) {
  std::shared_ptr<PendingCall> call;
  if (blocking && spare_sync_ && spare_sync_.use_count() == 1) {
    // use_count() is a relaxed read: order it after the engine thread's
    // release of its last reference, and with it every write it made.
    std::atomic_thread_fence(std::memory_order_acquire);
    call = std::move(spare_sync_);
    call->Reset(n);
  } else {
    call = std::make_shared<PendingCall>(n, blocking);
  }
  call->queue = completion_.get();
  return call;
}

}  // namespace hvd::binding
