#include "message.h"

#include <cstring>
#include <type_traits>

#include "ops/op.h"

namespace hvd::core {
namespace {

// Bytes of a message (Buf = std::vector<uint8_t>) or of a cache key
// (Buf = std::string, written in place: no copy into a string after).
template <typename Buf>
class BasicWriter {
 public:
  // One allocation for a typical message (growing from empty took about
  // eight for a 100-byte list).
  explicit BasicWriter(size_t reserve = 256) { out_.reserve(reserve); }
  template <typename T>
  void Put(T v) {
    Append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void PutString(const std::string& s) { PutString(s.data(), s.size()); }
  void PutString(const char* p, size_t n) {
    Put<uint32_t>(static_cast<uint32_t>(n));
    Append(p, n);
  }
  // A name as a cache key holds it: the stem before its trailing number,
  // and whether it has one (CacheKey).
  void PutKeyName(const std::string& name) {
    size_t stem = 0;
    const bool numbered = TrailingNumber(name, &stem) >= 0;
    PutString(name.data(), stem);
    Put<uint8_t>(numbered ? 1 : 0);
  }
  void PutBytes(const std::vector<uint8_t>& b) {
    Put<uint32_t>(static_cast<uint32_t>(b.size()));
    Append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  template <typename T>
  void PutVector(const std::vector<T>& v) {
    Put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (const T& x : v) Put<T>(x);
  }
  Buf Take() { return std::move(out_); }

 private:
  // std::string's insert(iterator, first, last) is its general replace (a
  // function call per field, about a third of a cache key's cost); append
  // is the plain copy.
  void Append(const char* p, size_t n) {
    if constexpr (std::is_same_v<Buf, std::string>) {
      out_.append(p, n);
    } else {
      const auto* b = reinterpret_cast<const uint8_t*>(p);
      out_.insert(out_.end(), b, b + n);
    }
  }
  Buf out_;
};
using Writer = BasicWriter<std::vector<uint8_t>>;
using KeyWriter = BasicWriter<std::string>;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  template <typename T>
  T Get() {
    HVD_ENFORCE(static_cast<size_t>(end_ - p_) >= sizeof(T), "truncated message");
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string GetString() {
    auto n = Get<uint32_t>();
    HVD_ENFORCE(static_cast<size_t>(end_ - p_) >= n, "truncated string");
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  void GetBytes(std::vector<uint8_t>* b) {
    auto n = Get<uint32_t>();
    HVD_ENFORCE(static_cast<size_t>(end_ - p_) >= n, "truncated payload");
    b->assign(p_, p_ + n);
    p_ += n;
  }
  template <typename T>
  std::vector<T> GetVector() {
    auto n = Get<uint32_t>();
    std::vector<T> v;
    v.reserve(n);
    for (uint32_t i = 0; i < n; ++i) v.push_back(Get<T>());
    return v;
  }
  bool done() const { return p_ == end_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

constexpr uint32_t kRequestMagic = 0x48564451;   // "HVDQ"
constexpr uint32_t kResponseMagic = 0x48564452;  // "HVDR"

}  // namespace

std::string Request::Signature() const {
  return std::string(CollectiveKindName(kind)) + " '" + name + "' " + DataTypeName(dtype) +
         ShapeToString(shape) + OpFor(kind).Describe(*this);
}

int64_t TrailingNumber(const std::string& name, size_t* stem) {
  size_t i = name.size();
  while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9') --i;
  const size_t digits = name.size() - i;
  if (digits == 0 || digits > 18 || (digits > 1 && name[i] == '0')) {
    if (stem) *stem = name.size();
    return -1;
  }
  int64_t n = 0;
  for (size_t k = i; k < name.size(); ++k) n = n * 10 + (name[k] - '0');
  if (stem) *stem = i;
  return n;
}

std::string WithTrailingNumber(const std::string& name, int64_t number) {
  size_t stem = 0;
  TrailingNumber(name, &stem);
  char digits[24];
  int len = 0;
  do {
    digits[len++] = static_cast<char>('0' + number % 10);
    number /= 10;
  } while (number > 0);
  std::string out;
  out.reserve(stem + static_cast<size_t>(len));
  out.append(name, 0, stem);
  while (len > 0) out.push_back(digits[--len]);
  return out;
}

// The fields that describe a collective (everything but per-send
// bookkeeping). As a cache key (key = true) the name goes without its
// trailing number.
template <typename W>
static void PutRequestFields(W& w, const Request& r, bool key = false) {
  if (key) w.PutKeyName(r.name);
  else w.PutString(r.name);
  w.Put(static_cast<uint8_t>(r.kind));
  w.Put(static_cast<uint8_t>(r.dtype));
  w.PutVector(r.shape);
  w.PutVector(r.splits);
  w.Put(static_cast<uint8_t>(r.op));
  w.Put(static_cast<int32_t>(r.root));
  w.Put(static_cast<double>(r.prescale));
  w.Put(static_cast<double>(r.postscale));
  w.PutString(r.group);
  w.Put(static_cast<int32_t>(r.group_size));
  w.Put(static_cast<int32_t>(r.process_set));
}

std::string CacheKey(const Request& r) {
  KeyWriter w(64 + r.name.size() + r.group.size() + 8 * (r.shape.size() + r.splits.size()));
  PutRequestFields(w, r, /*key=*/true);
  return w.Take();
}

namespace {
// Everything in a Response but its cache fields and payload.
template <typename W>
void PutResponseFields(W& w, const Response& r, bool key = false) {
  w.Put(static_cast<uint8_t>(r.kind));
  w.Put(static_cast<uint8_t>(r.failed ? 1 : 0));
  w.Put(static_cast<int32_t>(r.process_set));
  w.Put(static_cast<uint32_t>(r.names.size()));
  for (const auto& n : r.names) {
    if (key) w.PutKeyName(n);
    else w.PutString(n);
  }
  w.Put(static_cast<uint8_t>(r.dtype));
  w.Put(static_cast<uint8_t>(r.op));
  w.Put(static_cast<int32_t>(r.root));
  w.Put(static_cast<double>(r.prescale));
  w.Put(static_cast<double>(r.postscale));
  w.PutVector(r.counts);
  w.PutVector(r.first_dims);
  w.PutVector(r.joined);
  w.Put(static_cast<int32_t>(r.last_joined));
  w.Put(static_cast<uint8_t>(r.algorithm));
  w.PutString(r.error);
  w.Put(static_cast<uint8_t>(r.error_type));
}
}  // namespace

std::string CacheKey(const Response& r) {
  size_t reserve = 96 + r.error.size() + 8 * (r.counts.size() + r.first_dims.size()) + 4 * r.joined.size();
  for (const std::string& n : r.names) reserve += 4 + n.size();
  KeyWriter w(reserve);
  PutResponseFields(w, r, /*key=*/true);
  return w.Take();
}

std::vector<uint8_t> Serialize(const RequestList& list, bool direct_only) {
  size_t payloads = 0, count = 0;
  for (const Request& r : list.requests) {
    if (direct_only && !r.direct) continue;
    payloads += r.payload.size();
    ++count;
  }
  Writer w(256 + payloads);
  w.Put<uint32_t>(kRequestMagic);
  w.Put<uint8_t>(list.shutdown && !direct_only ? 1 : 0);
  w.PutString(direct_only ? std::string() : list.abort_reason);
  w.Put<uint32_t>(static_cast<uint32_t>(count));
  for (const Request& r : list.requests) {
    if (direct_only && !r.direct) continue;
    // 0: full, uncached; 1: full, defines cache_id; 2: reference to cache_id.
    uint8_t kind = r.cache_id < 0 ? 0 : (r.cache_define ? 1 : 2);
    w.Put<uint8_t>(kind);
    w.Put<uint64_t>(r.seq);
    w.Put<uint64_t>(r.running_hash);
    w.Put<uint8_t>(r.direct ? 1 : 0);
    if (kind != 0) w.Put<int32_t>(r.cache_id);
    w.PutBytes(r.payload);
    if (kind == 2) {
      w.Put<int64_t>(TrailingNumber(r.name));
      continue;
    }
    PutRequestFields(w, r);
    w.Put<int32_t>(r.rank);
  }
  return w.Take();
}

RequestList DeserializeRequestList(const uint8_t* data, size_t size) {
  Reader rd(data, size);
  HVD_ENFORCE(rd.Get<uint32_t>() == kRequestMagic, "not a request list");
  RequestList list;
  list.shutdown = rd.Get<uint8_t>() != 0;
  list.abort_reason = rd.GetString();
  auto n = rd.Get<uint32_t>();
  list.requests.resize(n);
  for (Request& r : list.requests) {
    uint8_t kind = rd.Get<uint8_t>();
    r.seq = rd.Get<uint64_t>();
    r.running_hash = rd.Get<uint64_t>();
    r.direct = rd.Get<uint8_t>() != 0;
    if (kind != 0) r.cache_id = rd.Get<int32_t>();
    r.cache_define = kind == 1;
    rd.GetBytes(&r.payload);
    if (kind == 2) {  // resolved by the receiver's CacheDecoder
      r.name_number = rd.Get<int64_t>();
      continue;
    }
    r.name = rd.GetString();
    r.kind = static_cast<CollectiveKind>(rd.Get<uint8_t>());
    HVD_ENFORCE(static_cast<int>(r.kind) < kNumCollectiveKinds, "bad collective kind");
    r.dtype = static_cast<DataType>(rd.Get<uint8_t>());
    r.shape = rd.GetVector<int64_t>();
    r.splits = rd.GetVector<int64_t>();
    r.op = static_cast<ReduceOp>(rd.Get<uint8_t>());
    r.root = rd.Get<int32_t>();
    r.prescale = rd.Get<double>();
    r.postscale = rd.Get<double>();
    r.group = rd.GetString();
    r.group_size = rd.Get<int32_t>();
    r.process_set = rd.Get<int32_t>();
    r.rank = rd.Get<int32_t>();
  }
  HVD_ENFORCE(rd.done(), "trailing bytes in request list");
  return list;
}

std::vector<uint8_t> Serialize(const ResponseList& list) {
  size_t payloads = 0;
  for (const Response& r : list.responses) payloads += r.payload.size();
  Writer w(256 + payloads);
  w.Put<uint32_t>(kResponseMagic);
  w.Put<uint8_t>(list.shutdown ? 1 : 0);
  w.PutString(list.abort_reason);
  w.Put<uint32_t>(static_cast<uint32_t>(list.responses.size()));
  for (const Response& r : list.responses) {
    uint8_t kind = r.cache_id < 0 ? 0 : (r.cache_define ? 1 : 2);
    w.Put<uint8_t>(kind);
    if (kind != 0) w.Put<int32_t>(r.cache_id);
    w.PutBytes(r.payload);
    w.PutVector(r.direct_ranks);
    if (kind == 2) {
      w.Put<uint32_t>(static_cast<uint32_t>(r.names.size()));
      for (const std::string& n : r.names) w.Put<int64_t>(TrailingNumber(n));
      continue;
    }
    PutResponseFields(w, r);
  }
  return w.Take();
}

ResponseList DeserializeResponseList(const uint8_t* data, size_t size) {
  Reader rd(data, size);
  HVD_ENFORCE(rd.Get<uint32_t>() == kResponseMagic, "not a response list");
  ResponseList list;
  list.shutdown = rd.Get<uint8_t>() != 0;
  list.abort_reason = rd.GetString();
  auto n = rd.Get<uint32_t>();
  list.responses.resize(n);
  for (Response& r : list.responses) {
    uint8_t kind = rd.Get<uint8_t>();
    if (kind != 0) r.cache_id = rd.Get<int32_t>();
    r.cache_define = kind == 1;
    rd.GetBytes(&r.payload);
    r.direct_ranks = rd.GetVector<int32_t>();
    if (kind == 2) {
      r.name_numbers = rd.GetVector<int64_t>();
      continue;
    }
    r.kind = static_cast<CollectiveKind>(rd.Get<uint8_t>());
    HVD_ENFORCE(static_cast<int>(r.kind) < kNumCollectiveKinds, "bad collective kind");
    r.failed = rd.Get<uint8_t>() != 0;
    r.process_set = rd.Get<int32_t>();
    auto names = rd.Get<uint32_t>();
    r.names.reserve(names);
    for (uint32_t i = 0; i < names; ++i) r.names.push_back(rd.GetString());
    r.dtype = static_cast<DataType>(rd.Get<uint8_t>());
    r.op = static_cast<ReduceOp>(rd.Get<uint8_t>());
    r.root = rd.Get<int32_t>();
    r.prescale = rd.Get<double>();
    r.postscale = rd.Get<double>();
    r.counts = rd.GetVector<int64_t>();
    r.first_dims = rd.GetVector<int64_t>();
    r.joined = rd.GetVector<int32_t>();
    r.last_joined = rd.Get<int32_t>();
    r.algorithm = rd.Get<uint8_t>();
    r.error = rd.GetString();
    r.error_type = static_cast<StatusType>(rd.Get<uint8_t>());
  }
  HVD_ENFORCE(rd.done(), "trailing bytes in response list");
  return list;
}

}  // namespace hvd::core
