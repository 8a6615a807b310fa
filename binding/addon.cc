#include "addon.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <atomic>

#include "engine.h"
#include "errors.h"
#include "mpi_context.h"
#include "ops/reduce.h"
#include "pool.h"
#include "pool_buffer.h"

namespace hvd::binding {
namespace {
std::atomic<bool> g_env_claimed{false};
// The engine is never destroyed (engine.cc: it must outlive static teardown
// and the environment's cleanup hooks). This global keeps it reachable after
// Node frees the addon instance, so LeakSanitizer (npm run test:asan) sees a
// deliberate process-lifetime object, not a leak.
std::atomic<core::Engine*> g_engine{nullptr};
}  // namespace

HvdAddon::HvdAddon(Napi::Env env, Napi::Object exports) {
  bool expected = false;
  if (!g_env_claimed.compare_exchange_strong(expected, true)) {
    throw Napi::Error::New(env,
                           "hvd can be loaded by only one JavaScript environment per process "
                           "(MPI is per process): use it from the main thread, not a Worker");
  }
  g_engine.store(engine_);
  static const char* const kKeyNames[kNumKeys] = {"name",  "dtype", "shape",     "splits",    "input",      "output",
                                                  "op",    "root",  "prescale", "postscale", "processSet", "group"};
  Napi::Array keys = Napi::Array::New(env, kNumKeys);
  for (uint32_t k = 0; k < kNumKeys; ++k) keys.Set(k, Napi::String::New(env, kKeyNames[k]));
  keys_ = Napi::Persistent(keys.As<Napi::Object>());
  DefineAddon(exports, {
      InstanceMethod("init", &HvdAddon::JsInit),
      InstanceMethod("shutdown", &HvdAddon::JsShutdown),
      InstanceMethod("isInitialized", &HvdAddon::JsIsInitialized),
      InstanceMethod("topology", &HvdAddon::JsTopology),
      InstanceMethod("buildInfo", &HvdAddon::JsBuildInfo),
      InstanceMethod("stats", &HvdAddon::JsStats),
      InstanceMethod("codes", &HvdAddon::JsCodes),
      InstanceMethod("setErrorConstructor", &HvdAddon::JsSetErrorConstructor),
      InstanceMethod("abort", &HvdAddon::JsAbort),
      InstanceMethod("enqueue", &HvdAddon::JsEnqueue),
      InstanceMethod("enqueueOne", &HvdAddon::JsEnqueueOne),
      InstanceMethod("allocBuffer", &HvdAddon::JsAllocBuffer),
      InstanceMethod("float32ToFloat16", &HvdAddon::JsFloat32ToFloat16),
      InstanceMethod("float16ToFloat32", &HvdAddon::JsFloat16ToFloat32),
  });
}

Napi::Value HvdAddon::JsInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!completion_) completion_ = std::make_unique<CompletionQueue>(env);
  int64_t timeout_ms = -1;
  if (info.Length() > 0 && info[0].IsNumber()) timeout_ms = info[0].As<Napi::Number>().Int64Value();
  core::Status s = engine_->Init(timeout_ms);
  if (!s.ok()) throw StatusToJsError(env, s);
  if (!cleanup_registered_) {
    // Registered after the TSFN, so it runs first at teardown: the engine
    // can still post its final completions while the TSFN is alive.
    env.AddCleanupHook([e = engine_] { e->Shutdown(); });
    cleanup_registered_ = true;
  }
  return env.Undefined();
}

// shutdown() or, from the process 'exit' hook, shutdown(timeoutMs, exitCode):
// then, when the other ranks have not shut down within timeoutMs, this rank
// says so and ends the process at once with exitCode (_Exit: static
// destructors must not run while the engine thread is still inside MPI).
Napi::Value HvdAddon::JsShutdown(const Napi::CallbackInfo& info) {
  int64_t timeout_ms = -1;
  int exit_code = 1;
  if (info.Length() > 0 && info[0].IsNumber()) timeout_ms = info[0].As<Napi::Number>().Int64Value();
  if (info.Length() > 1 && info[1].IsNumber()) exit_code = info[1].As<Napi::Number>().Int32Value();
  core::Status s = engine_->Shutdown(timeout_ms);
  if (s.type() == core::StatusType::kTimedOut) {
    std::fprintf(stderr,
                 "[hvd rank %d] the other ranks did not shut down within %.1f s of this rank's exit "
                 "(HVD_EXIT_TIMEOUT_SECONDS); exiting with code %d without MPI_Finalize.\n",
                 engine_->topology().rank, static_cast<double>(timeout_ms) / 1000.0, exit_code);
    std::fflush(stderr);
    std::_Exit(exit_code);
  }
  if (!s.ok()) throw StatusToJsError(info.Env(), s);
  return info.Env().Undefined();
}

Napi::Value HvdAddon::JsIsInitialized(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), engine_->initialized());
}

Napi::Value HvdAddon::JsTopology(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const core::TopologyInfo& t = engine_->topology();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", t.rank);
  o.Set("size", t.size);
  o.Set("localRank", t.local_rank);
  o.Set("localSize", t.local_size);
  o.Set("crossRank", t.cross_rank);
  o.Set("crossSize", t.cross_size);
  o.Set("isHomogeneous", t.homogeneous);
  o.Set("mpiThreadsSupported", t.mpi_threads_supported);
  const char* level = "single";
  if (t.thread_level == MPI_THREAD_FUNNELED) level = "funneled";
  else if (t.thread_level == MPI_THREAD_SERIALIZED) level = "serialized";
  else if (t.thread_level == MPI_THREAD_MULTIPLE) level = "multiple";
  o.Set("mpiThreadLevel", level);
  return o;
}

Napi::Value HvdAddon::JsBuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("mpiLibraryVersion", core::MpiContext::LibraryVersion());
#if defined(OPEN_MPI)
  o.Set("mpiVendor", "Open MPI");
#elif defined(MPICH)
  o.Set("mpiVendor", "MPICH");
#else
  o.Set("mpiVendor", "unknown");
#endif
  o.Set("ncclBuilt", false);
  void* nccl = dlopen("libnccl.so.2", RTLD_LAZY | RTLD_LOCAL);
  o.Set("ncclAvailable", nccl != nullptr);
  if (nccl) dlclose(nccl);
  return o;
}

Napi::Value HvdAddon::JsStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const core::EngineStats& s = engine_->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("responses", static_cast<double>(s.responses.load()));
  o.Set("tensors", static_cast<double>(s.tensors.load()));
  o.Set("fusedResponses", static_cast<double>(s.fused_responses.load()));
  o.Set("fusionCopyBytes", static_cast<double>(s.fusion_copy_bytes.load()));
  o.Set("allreduceBytes", static_cast<double>(s.allreduce_bytes.load()));
  o.Set("negotiationLists", static_cast<double>(s.negotiation_lists.load()));
  o.Set("ringAllreduces", static_cast<double>(s.ring_allreduces.load()));
  o.Set("cacheHits", static_cast<double>(s.cache_hits.load()));
  o.Set("controlBytes", static_cast<double>(s.control_bytes.load()));
  o.Set("inlineCalls", static_cast<double>(s.inline_calls.load()));
  o.Set("eagerAllreduces", static_cast<double>(s.eager_allreduces.load()));
  o.Set("directAllreduces", static_cast<double>(s.direct_allreduces.load()));
  const core::PoolStats p = core::GlobalPool().stats();
  o.Set("poolInUseBytes", static_cast<double>(p.in_use_bytes));
  o.Set("poolCachedBytes", static_cast<double>(p.cached_bytes));
  o.Set("poolMaxBytes", static_cast<double>(p.max_bytes));
  o.Set("poolHits", static_cast<double>(p.hits));
  o.Set("poolMisses", static_cast<double>(p.misses));
  o.Set("poolFallbacks", static_cast<double>(p.fallbacks));
  o.Set("poolReleasedBytes", static_cast<double>(p.released_bytes));
  const auto& algorithms = core::ReduceAlgorithms();
  Napi::Array choices = Napi::Array::New(env);
  for (const core::AlgorithmTuner::Decision& d : engine_->AlgorithmDecisions()) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("processSet", d.process_set);
    c.Set("minBytes", static_cast<double>(d.min_bytes));
    c.Set("maxBytes", static_cast<double>(2 * d.min_bytes));
    c.Set("inPlace", d.in_place);
    c.Set("freshOutput", d.fresh_output);
    c.Set("algorithm", d.algorithm < 0 ? env.Null() : Napi::String::New(env, algorithms[static_cast<size_t>(d.algorithm)]->name()));
    Napi::Object per = Napi::Object::New(env);
    for (size_t i = 0; i < d.best_us_per_mib.size() && i < algorithms.size(); ++i) {
      if (d.best_us_per_mib[i] > 0) per.Set(algorithms[i]->name(), d.best_us_per_mib[i]);
    }
    c.Set("usPerMiB", per);
    choices.Set(choices.Length(), c);
  }
  o.Set("algorithmChoices", choices);
  return o;
}

// allocBuffer(bytes, zero): an ArrayBuffer on hvd's pool (pool_buffer.h),
// or an ordinary one when the pool has no room or bytes is below its
// minimum. Works before init(): the pool does not need MPI.
Napi::Value HvdAddon::JsAllocBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    throw Napi::TypeError::New(env, "allocBuffer(bytes: number, zero: boolean)");
  }
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0) || bytes > 9007199254740991.0 || bytes != static_cast<double>(static_cast<size_t>(bytes))) {
    throw Napi::RangeError::New(env, "allocBuffer: bytes must be a non-negative integer");
  }
  return NewHvdArrayBuffer(env, static_cast<size_t>(bytes), info[1].As<Napi::Boolean>().Value());
}

// setErrorConstructor(HorovodError): every error the engine reports is then
// constructed as `new HorovodError(message, code)` (errors.cc), so no call
// site has to rewrap it.
Napi::Value HvdAddon::JsSetErrorConstructor(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorConstructor(ctor: Function)");
  }
  error_constructor_ = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The codes table as compiled (codes.h), for the test that compares it
// with the generated src/codes.ts.
Napi::Value HvdAddon::JsCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object dtypes = Napi::Object::New(env), sizes = Napi::Object::New(env), ops = Napi::Object::New(env),
               kinds = Napi::Object::New(env), status = Napi::Object::New(env);
#define HVD_X(e, v, n, b) dtypes.Set(n, v); sizes.Set(n, b);
  HVD_DATA_TYPES(HVD_X)
#undef HVD_X
#define HVD_X(e, v, n) ops.Set(n, v);
  HVD_REDUCE_OPS(HVD_X)
#undef HVD_X
#define HVD_X(e, v, n, op) kinds.Set(n, v);
  HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
#define HVD_X(e, v, n) status.Set(n, v);
  HVD_STATUS_CODES(HVD_X)
#undef HVD_X
  o.Set("dtypes", dtypes);
  o.Set("dtypeBytes", sizes);
  o.Set("reduceOps", ops);
  o.Set("kinds", kinds);
  o.Set("statusCodes", status);
  return o;
}

Napi::Value HvdAddon::JsAbort(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "abort(reason: string)");
  engine_->Abort(info[0].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

Napi::Value HvdAddon::JsFloat32ToFloat16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, "float32ToFloat16: argument must be a Float32Array");
  }
  auto src = info[0].As<Napi::Float32Array>();
  auto dst = Napi::Uint16Array::New(env, src.ElementLength());
  core::FloatToHalfArray(src.Data(), dst.Data(), static_cast<int64_t>(src.ElementLength()));
  return dst;
}

Napi::Value HvdAddon::JsFloat16ToFloat32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) {
    throw Napi::TypeError::New(env, "float16ToFloat32: argument must be a Uint16Array");
  }
  auto src = info[0].As<Napi::Uint16Array>();
  auto dst = Napi::Float32Array::New(env, src.ElementLength());
  core::HalfToFloatArray(src.Data(), dst.Data(), static_cast<int64_t>(src.ElementLength()));
  return dst;
}

}  // namespace hvd::binding

using hvd::binding::HvdAddon;
NODE_API_ADDON(HvdAddon)
