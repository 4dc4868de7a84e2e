// safetensors reading and writing. The header is validated completely (types, shapes, offsets,
// overlaps, duplicates) before a byte of tensor data is touched, so a corrupt file can only end
// in an IoError; writes go to a temporary file that is fsync'ed and renamed into place.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; kdcu's reader and writer assume a little-endian host"
#endif

namespace kdcu {
namespace {

// ordered_json keeps the header's key order, which decides the order of equal data offsets.
using Json = nlohmann::ordered_json;

constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;  // the limit Hugging Face's reader uses too
constexpr const char* kMetadataKey = "__metadata__";
constexpr size_t kMaxDims = 64;  // far beyond any real tensor; keeps shapes in messages short

// Names and values come from the file: keep messages short however long they are.
std::string quote(const std::string& s) {
  constexpr size_t kMax = 96;
  return "'" + (s.size() <= kMax ? s : s.substr(0, kMax) + "...") + "'";
}

// What a JSON value is, for "expected ..., found ..." messages. Never dumps nested containers
// (a hostile header can nest deep enough for a recursive dump to exhaust the stack).
std::string describe(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return j.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(j.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(j.get<std::uint64_t>());
    case Json::value_t::number_float:
      return cat(j.get<double>());
    case Json::value_t::string:
      return "the string " + quote(j.get_ref<const std::string&>());
    case Json::value_t::array:
      return cat("an array of ", j.size(), " elements");
    case Json::value_t::object:
      return "an object";
    default:
      return "a binary value";
  }
}

const char* st_dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType d : {DType::F32, DType::F64, DType::I64}) {
    if (s == st_dtype_name(d)) {
      *out = d;
      return true;
    }
  }
  return false;
}

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // relative to the start of the data section
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

// Reads an unsigned JSON integer that must fit in int64 (extents, offsets); false otherwise.
bool get_count(const Json& j, std::uint64_t* out) {
  if (!j.is_number_unsigned()) return false;
  *out = j.get<std::uint64_t>();
  return *out <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

std::string offsets_str(const Entry& e) {
  return cat("[", e.begin, ", ", e.end, "]");
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& j, std::uint64_t data_size) {
  const std::string where = cat(path, ": tensor ", quote(name));
  require<IoError>(j.is_object(), where, ": expected an object {dtype, shape, data_offsets}, found ", describe(j));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    require<IoError>(j.contains(key), where, ": the entry has no \"", key, "\"");
  Entry e;
  e.name = name;

  const Json& dtype = j.at("dtype");
  require<IoError>(dtype.is_string(), where, ": expected dtype to be a string, found ", describe(dtype));
  const std::string& dname = dtype.get_ref<const std::string&>();
  require<IoError>(parse_st_dtype(dname, &e.dtype), where, " has dtype ", quote(dname),
                   ", which kdcu cannot load (expected F32, F64 or I64)");

  const Json& shape = j.at("shape");
  require<IoError>(shape.is_array(), where, ": expected shape to be an array, found ", describe(shape));
  require<IoError>(shape.size() <= kMaxDims, where, " has a shape of ", shape.size(), " dims (at most ", kMaxDims,
                   " supported)");
  for (size_t i = 0; i < shape.size(); ++i) {
    std::uint64_t extent = 0;
    require<IoError>(get_count(shape[i], &extent), where, ": shape extent ", i,
                     " must be a non-negative integer, found ", describe(shape[i]));
    e.shape.push_back(static_cast<std::int64_t>(extent));
  }
  // The byte size of the non-zero extents must fit in int64, so that numel() and nbytes() of
  // the tensor (and of any reshape of it) cannot overflow, whatever zeros the shape holds.
  std::uint64_t bytes_nonzero = dtype_size(e.dtype);
  for (std::int64_t extent : e.shape) {
    if (extent == 0) continue;
    const bool overflow = __builtin_mul_overflow(bytes_nonzero, static_cast<std::uint64_t>(extent), &bytes_nonzero) ||
                          bytes_nonzero > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    require<IoError>(!overflow, where, " has shape ", shape_str(e.shape), " of ", dname,
                     " whose byte size overflows 64 bits");
  }
  const std::uint64_t nbytes = static_cast<std::uint64_t>(numel(e.shape)) * dtype_size(e.dtype);

  const Json& offsets = j.at("data_offsets");
  require<IoError>(offsets.is_array() && offsets.size() == 2, where,
                   ": expected data_offsets to be an array [begin, end], found ", describe(offsets));
  require<IoError>(get_count(offsets[0], &e.begin) && get_count(offsets[1], &e.end), where,
                   ": data_offsets must be non-negative integers, found [", describe(offsets[0]), ", ",
                   describe(offsets[1]), "]");
  require<IoError>(e.begin <= e.end, where, " has data_offsets ", offsets_str(e), ": begin is after end");
  require<IoError>(e.end <= data_size, where, " has data_offsets ", offsets_str(e), " but the data section holds only ",
                   data_size, " bytes");
  require<IoError>(e.end - e.begin == nbytes, where, " has data_offsets ", offsets_str(e), " (", e.end - e.begin,
                   " bytes) but shape ", shape_str(e.shape), " of ", dname, " needs ", nbytes, " bytes");
  return e;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& j) {
  require<IoError>(j.is_object(), path, ": expected \"__metadata__\" to be an object of strings, found ", describe(j));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    require<IoError>(value.is_string(), path, ": metadata ", quote(key), " must be a string, found ", describe(value));
    out[key] = value.get<std::string>();
  }
  return out;
}

// Parses and checks the JSON header; `data_size` is the number of bytes after it.
Header parse_header(const std::string& path, const char* text, size_t size, std::uint64_t data_size) {
  Json root;
  std::string duplicate;
  bool has_duplicate = false;
  std::set<std::string> top_keys;
  // nlohmann keeps the last of two equal keys silently; a callback sees every key as parsed.
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && !has_duplicate && parsed.is_string()) {
      if (!top_keys.insert(parsed.get<std::string>()).second) {
        has_duplicate = true;
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  try {
    root = Json::parse(text, text + size, on_event);
  } catch (const Json::exception& e) {
    throw IoError(cat(path, ": the header is not valid JSON (", e.what(), ")"));
  } catch (const std::bad_alloc&) {  // up to 100 MB of tiny JSON values can outgrow memory
    throw IoError(cat(path, ": the header (", size, " bytes of JSON) does not fit in memory"));
  }
  require<IoError>(root.is_object(), path, ": expected the header to be a JSON object, found ", describe(root));
  require<IoError>(!has_duplicate, path, ": tensor ", quote(duplicate), " appears twice in the header");

  Header h;
  try {
    for (const auto& [key, value] : root.items()) {
      if (key == kMetadataKey)
        h.metadata = parse_metadata(path, value);
      else
        h.entries.push_back(parse_entry(path, key, value, data_size));
    }
  } catch (const Json::exception& e) {  // not expected after the type checks; never let one escape
    throw IoError(cat(path, ": malformed header (", e.what(), ")"));
  }

  std::stable_sort(h.entries.begin(), h.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  // Sorted by begin, a non-empty tensor overlaps an earlier one iff it starts before the
  // furthest end seen so far; empty tensors occupy no bytes and overlap nothing.
  const Entry* furthest = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin == e.end) continue;
    if (furthest) {
      require<IoError>(e.begin >= furthest->end, path, ": tensors ", quote(furthest->name), " (data_offsets ",
                       offsets_str(*furthest), ") and ", quote(e.name), " (data_offsets ", offsets_str(e), ") overlap");
    }
    if (!furthest || e.end > furthest->end) furthest = &e;
  }
  return h;
}

std::uint64_t decode_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void encode_u64_le(std::uint64_t v, unsigned char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Checks the length field against the file size; returns the size of the data section.
std::uint64_t check_header_length(const std::string& path, std::uint64_t file_size, std::uint64_t n) {
  require<IoError>(file_size >= 8, path, ": the file is ", file_size,
                   " bytes, shorter than the 8-byte header length that starts a safetensors file");
  require<IoError>(n <= kMaxHeaderBytes, path, ": header length ", n, " exceeds the limit of ", kMaxHeaderBytes,
                   " bytes (not a safetensors file, or corrupt)");
  require<IoError>(n <= file_size - 8, path, ": header length ", n, " but the file has only ", file_size - 8,
                   " bytes after the length field (truncated?)");
  return file_size - 8 - n;
}

std::string os_error(int err) {
  return std::strerror(err);
}

class Fd {  // closes on scope exit
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly `n` bytes at `offset`; false (errno set, 0 for end of file) when it cannot.
bool pread_full(int fd, void* buf, size_t n, std::uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = 0;
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

bool write_full(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The temporary next to the target; removed on destruction unless committed.
class TempFile {
 public:
  explicit TempFile(const std::string& path) : target_(path) {
    static std::atomic<unsigned> counter{0};
    tmp_ = cat(path, ".tmp.", ::getpid(), ".", counter++);
    const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      const int err = errno;
      throw IoError(cat(path, ": cannot create the temporary file ", quote(tmp_), ": ", os_error(err)));
    }
    fd_ = fd;
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* buf, size_t n) {
    if (!write_full(fd_, buf, n)) fail("cannot write");
  }
  // fsync, close, rename over the target, then fsync the directory so the rename itself is durable.
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot fsync");
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail("cannot close");
    if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
      const int err = errno;
      throw IoError(cat(target_, ": cannot rename ", quote(tmp_), " over it: ", os_error(err)));
    }
    committed_ = true;
    // Best effort: the new file is already in place, so a failure here is not worth an error.
    const int dir = ::open(dir_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  const std::string& tmp() const { return tmp_; }

 private:
  [[noreturn]] void fail(const char* what) {
    const int err = errno ? errno : EIO;
    throw IoError(cat(target_, ": ", what, " the temporary file ", quote(tmp_), ": ", os_error(err)));
  }
  std::string target_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

std::string header_text(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[kMetadataKey] = std::move(meta);
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    require<IoError>(t.defined(), path, ": cannot save tensor ", quote(name), ": it is undefined");
    require<IoError>(name != kMetadataKey, path, ": cannot save a tensor named \"__metadata__\" (reserved)");
    require<IoError>(seen.insert(name).second, path, ": cannot save tensor ", quote(name), " twice");
    const std::uint64_t n = t.nbytes();
    header[name] =
        Json{{"dtype", st_dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    throw IoError(
        cat(path, ": cannot encode the header; tensor names and metadata must be valid UTF-8 (", e.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned in the file
  return text;
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string known;
  const size_t shown = std::min<size_t>(tensors.size(), 8);
  for (size_t i = 0; i < shown; ++i) known += (i ? ", " : "") + quote(tensors[i].first);
  if (shown < tensors.size()) known += ", ...";
  throw IoError(cat(path, ": no tensor ", quote(name), " (the file holds ", tensors.size(), " tensors",
                    tensors.empty() ? "" : ": ", known, ")"));
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors.size());
  for (const auto& p : tensors) out.push_back(p.first);
  return out;
}

SafetensorsFile load_safetensors_from_memory(const void* bytes, size_t size, const std::string& name) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  const std::uint64_t n = size >= 8 ? decode_u64_le(p) : 0;
  const std::uint64_t data_size = check_header_length(name, size, n);
  Header h = parse_header(name, reinterpret_cast<const char*>(p + 8), static_cast<size_t>(n), data_size);
  const unsigned char* data = p + 8 + n;
  SafetensorsFile out;
  out.path = name;
  out.metadata = std::move(h.metadata);
  for (Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), data + e.begin, static_cast<size_t>(e.end - e.begin));
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    throw IoError(cat(path, ": cannot open: ", os_error(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    throw IoError(cat(path, ": cannot stat: ", os_error(err)));
  }
  require<IoError>(!S_ISDIR(st.st_mode), path, ": is a directory, not a safetensors file");
  require<IoError>(S_ISREG(st.st_mode), path, ": is not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  auto read_or_throw = [&](void* buf, size_t n, std::uint64_t offset, const char* what) {
    if (pread_full(fd.get(), buf, n, offset)) return;
    const int err = errno;
    throw IoError(cat(path, ": cannot read ", what, " (", n, " bytes at offset ", offset,
                      "): ", err ? os_error(err) : "the file ended early; did it change while being read?"));
  };
  unsigned char len_bytes[8] = {};
  if (file_size >= 8) read_or_throw(len_bytes, 8, 0, "the header length");
  const std::uint64_t n = decode_u64_le(len_bytes);
  const std::uint64_t data_size = check_header_length(path, file_size, n);
  std::string text(static_cast<size_t>(n), '\0');
  read_or_throw(text.data(), text.size(), 8, "the header");
  Header h = parse_header(path, text.data(), text.size(), data_size);

  SafetensorsFile out;
  out.path = path;
  out.metadata = std::move(h.metadata);
  for (Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) {
      const std::string what = cat("tensor ", quote(e.name));
      read_or_throw(t.raw_data(), static_cast<size_t>(e.end - e.begin), 8 + n + e.begin, what.c_str());
    }
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Everything that can be checked without the disk is checked before the temporary exists.
  const std::string text = header_text(path, tensors, metadata);
  TempFile tmp(path);
  unsigned char len_bytes[8];
  encode_u64_le(text.size(), len_bytes);
  tmp.write(len_bytes, 8);
  tmp.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    Tensor host;
    try {
      host = t.detach().to(Device::cpu());  // one tensor at a time: the host never holds a CUDA model twice
    } catch (const Error& e) {
      throw IoError(cat(path, ": cannot copy tensor ", quote(name), " to the host: ", e.what()));
    }
    if (host.nbytes() > 0) tmp.write(host.raw_data(), host.nbytes());
  }
  tmp.commit();
}

}  // namespace kdcu
