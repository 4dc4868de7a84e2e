// safetensors I/O: round trips, files laid out as PyTorch's writer lays them out, one IoError
// per way a file can be corrupt (message checked), random mutations and truncations that must
// end in success or IoError, and atomic saves that never leave a broken file or a temporary.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/factories.h"
#include "core/safetensors.h"
#include "tests/support/temp_dir.h"

namespace kdcu {
namespace {

namespace fs = std::filesystem;
using Bytes = std::string;
using Named = std::vector<std::pair<std::string, Tensor>>;

// A fresh directory per test, removed afterwards.
struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("st") {}
  // Names of leftover temporaries ("<target>.tmp.<pid>.<n>") in the directory.
  std::vector<std::string> temporaries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
    return out;
  }
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Bytes u64_le(std::uint64_t v) {
  Bytes b(8, '\0');
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  return b;
}

// A file image as PyTorch's minimal writer makes it: length, JSON (optionally space-padded), data.
Bytes make_file(std::string header, const Bytes& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return u64_le(header.size()) + header + data;
}

template <class T>
Bytes le_bytes(const std::vector<T>& v) {
  return Bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

Bytes tensor_bytes(const Tensor& t) {
  return t.nbytes() ? Bytes(static_cast<const char*>(t.raw_data()), t.nbytes()) : Bytes();
}

// Bitwise equality of name, dtype, shape and bytes (so NaN and -0 round-trip exactly).
void expect_same(const Named& actual, const Named& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_EQ(actual[i].second.dtype(), expected[i].second.dtype()) << actual[i].first;
    EXPECT_EQ(actual[i].second.shape(), expected[i].second.shape()) << actual[i].first;
    EXPECT_TRUE(actual[i].second.device().is_cpu());
    EXPECT_EQ(tensor_bytes(actual[i].second), tensor_bytes(expected[i].second)) << actual[i].first;
  }
}

Named sample_tensors() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return {{"conv.weight", from_vector<float>({1.5f, -0.0f, inf, nan, -inf, 3e-39f}, {2, 1, 3})},
          {"bn.running_var", from_vector<double>({0.1, 1e300, -2.5, 4.0, 5.0}, {5})},
          {"labels", from_vector<std::int64_t>({-1, 0, INT64_MAX, INT64_MIN, 7, 9}, {3, 1, 2})},
          {"temperature", scalar(4.0)},
          {"empty_rows", zeros({0, 4}, DType::F64)},
          {"no_labels", zeros({0}, DType::I64)},
          {"fc.bias", from_vector<float>({0.25f, -0.5f, 0.75f})}};
}

// Runs f, which must throw IoError whose message contains every one of `parts`.
template <class F>
void expect_io_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected IoError containing '" << parts.front() << "'";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

TEST(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Named tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\""}};
  save_safetensors(path, tensors, meta);
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.path, path);
  expect_same(f.tensors, tensors);
  EXPECT_EQ(f.metadata, meta);
  EXPECT_EQ(f.at("temperature").dim(), 0);
  EXPECT_EQ(f.at("temperature").item<float>(), 4.0f);
  EXPECT_EQ(f.at("empty_rows").shape(), (Shape{0, 4}));
  EXPECT_FALSE(f.at("labels").requires_grad());

  // The in-memory reader sees the same file the same way.
  const Bytes bytes = read_bytes(path);
  const SafetensorsFile m = load_safetensors_from_memory(bytes.data(), bytes.size(), "mem");
  expect_same(m.tensors, tensors);
  EXPECT_EQ(m.metadata, meta);
  EXPECT_EQ(m.path, "mem");
}

TEST(Safetensors, KeepsTensorOrderAndOverwrites) {
  TempDir dir;
  const std::string path = dir.file("order.safetensors");
  const std::vector<std::string> names = {"z", "a", "m.weight", "b", "a.b.c", "0"};
  Named tensors;
  for (size_t i = 0; i < names.size(); ++i) tensors.emplace_back(names[i], full({2}, double(i)));
  save_safetensors(path, {{"old", scalar(1.0)}});
  save_safetensors(path, tensors);  // over an existing file
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.names(), names);
  EXPECT_FALSE(f.contains("old"));
  EXPECT_TRUE(f.contains("m.weight"));
  EXPECT_TRUE(f.metadata.empty());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(f.at(names[i]).at<float>({1}), float(i));
}

TEST(Safetensors, LayoutIsPaddedContiguousLittleEndian) {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  save_safetensors(path, {{"a", from_vector<float>({1.0f})}, {"b", from_vector<std::int64_t>({258})}});
  const Bytes b = read_bytes(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[i]);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(b.size(), 8 + n + 4 + 8);
  EXPECT_EQ(b[8], '{');
  const std::string header = b.substr(8, n);
  EXPECT_NE(header.find("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), std::string::npos) << header;
  EXPECT_NE(header.find("\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]}"), std::string::npos)
      << header;
  EXPECT_EQ(b.substr(8 + n), Bytes("\x00\x00\x80\x3f\x02\x01\x00\x00\x00\x00\x00\x00", 12));
}

TEST(Safetensors, LoadsFilesLaidOutByPyTorch) {
  TempDir dir;
  // json.dumps(separators=(",", ":")) of a state dict, metadata first as Hugging Face writes it,
  // and a header whose key order differs from the data order (the data order wins).
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
      "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"labels\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]},"
      "\"scale\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[48,56]}}";
  const Bytes data = le_bytes<float>({1, 2, 3, 4}) + le_bytes<float>({-1, 0.5f}) + le_bytes<std::int64_t>({3, 0, 9}) +
                     le_bytes<double>({0.125});
  for (bool pad : {true, false}) {
    const std::string path = dir.file(pad ? "padded.safetensors" : "unpadded.safetensors");
    write_bytes(path, make_file(header, data, pad));
    const SafetensorsFile f = load_safetensors(path);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"fc.weight", "fc.bias", "labels", "scale"}));
    EXPECT_EQ(f.metadata.at("format"), "pt");
    EXPECT_EQ(f.at("fc.weight").shape(), (Shape{2, 2}));
    EXPECT_EQ(f.at("fc.weight").to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(f.at("fc.bias").to_vector<float>(), (std::vector<float>{-1, 0.5f}));
    EXPECT_EQ(f.at("labels").dtype(), DType::I64);
    EXPECT_EQ(f.at("labels").to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 0, 9}));
    EXPECT_EQ(f.at("scale").dim(), 0);
    EXPECT_EQ(f.at("scale").item<double>(), 0.125);
  }
}

TEST(Safetensors, MissingTensorNamesFileAndSomeNames) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  save_safetensors(path, sample_tensors());
  const SafetensorsFile f = load_safetensors(path);
  expect_io_error([&] { f.at("fc.weight"); }, {path, "no tensor 'fc.weight'", "holds 7 tensors", "'conv.weight'"});
  EXPECT_FALSE(f.contains("fc.weight"));
}

struct Corruption {
  const char* what;
  Bytes bytes;
  std::vector<std::string> expected;  // substrings of the message besides the path
};

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<Corruption> corruptions() {
  const Bytes data(400, '\x01');
  auto one = [&](const std::string& e) { return make_file("{" + e + "}", data); };
  auto ones_shape = [](int dims) {  // "[1,1,...,1]"
    std::string s = "[1";
    for (int i = 1; i < dims; ++i) s += ",1";
    return s + "]";
  };
  return {
      {"short", Bytes("\x08\x00\x00", 3), {"the file is 3 bytes, shorter than the 8-byte header length"}},
      {"past end", u64_le(1000) + "{}", {"header length 1000 but the file has only 2 bytes"}},
      {"absurd", u64_le(1ull << 40) + "{}", {"header length 1099511627776 exceeds the limit"}},
      {"invalid json", make_file("{\"a\":", data), {"the header is not valid JSON"}},
      {"bad utf8", make_file("{\"\xff\":{}}", data), {"the header is not valid JSON", "UTF-8"}},
      {"empty header", u64_le(0), {"the header is not valid JSON"}},
      {"not object", make_file("[1,2]", data), {"expected the header to be a JSON object, found an array of 2"}},
      {"entry not object", one("\"w\":[0,4]"), {"tensor 'w': expected an object", "found an array of 2"}},
      {"no dtype", one("\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}"), {"tensor 'w': the entry has no \"dtype\""}},
      {"no shape", one("\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), {"tensor 'w': the entry has no \"shape\""}},
      {"no offsets", one("\"w\":{\"dtype\":\"F32\",\"shape\":[1]}"), {"tensor 'w': the entry has no \"data_offsets\""}},
      {"dtype type", one(entry("w", "32", "[1]", "[0,4]")), {"tensor 'w': expected dtype to be a string, found 32"}},
      {"bf16", one(entry("w", "\"BF16\"", "[2]", "[0,4]")), {"tensor 'w' has dtype 'BF16', which kdcu cannot load"}},
      {"shape type",
       one(entry("w", "\"F32\"", "\"1\"", "[0,4]")),
       {"expected shape to be an array, found the string '1'"}},
      {"negative extent",
       one(entry("w", "\"F32\"", "[1,-2]", "[0,4]")),
       {"tensor 'w': shape extent 1 must be a non-negative integer, found -2"}},
      {"float extent",
       one(entry("w", "\"F32\"", "[2.5]", "[0,4]")),
       {"shape extent 0 must be a non-negative integer, found 2.5"}},
      {"overflow", one(entry("w", "\"F32\"", "[4294967296,4294967296]", "[0,4]")), {"tensor 'w'", "overflows 64 bits"}},
      {"too many dims",
       one(entry("w", "\"F32\"", ones_shape(65), "[0,4]")),
       {"tensor 'w' has a shape of 65 dims (at most 64 supported)"}},
      {"overflow with zero", one(entry("w", "\"F64\"", "[0,4294967296,4294967296]", "[0,0]")), {"overflows 64 bits"}},
      {"offsets arity",
       one(entry("w", "\"F32\"", "[1]", "[0]")),
       {"expected data_offsets to be an array [begin, end], found an array of 1"}},
      {"offsets negative",
       one(entry("w", "\"F32\"", "[1]", "[-4,0]")),
       {"data_offsets must be non-negative integers, found [-4, 0]"}},
      {"offsets float", one(entry("w", "\"F32\"", "[1]", "[0,4.0]")), {"data_offsets must be non-negative integers"}},
      {"begin after end",
       one(entry("w", "\"F32\"", "[1]", "[8,4]")),
       {"tensor 'w' has data_offsets [8, 4]: begin is after end"}},
      {"past data",
       one(entry("w", "\"F32\"", "[101]", "[0,404]")),
       {"data_offsets [0, 404] but the data section holds only 400 bytes"}},
      {"size mismatch",
       one(entry("fc.weight", "\"F32\"", "[10,10]", "[0,100]")),
       {"tensor 'fc.weight' has data_offsets [0, 100] (100 bytes) but shape [10, 10] of F32 needs 400 bytes"}},
      {"overlap",
       one(entry("a", "\"F32\"", "[4]", "[0,16]") + "," + entry("b", "\"F32\"", "[2]", "[8,16]")),
       {"tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [8, 16]) overlap"}},
      {"duplicate",
       one(entry("a", "\"F32\"", "[1]", "[0,4]") + "," + entry("a", "\"F32\"", "[1]", "[4,8]")),
       {"tensor 'a' appears twice in the header"}},
      {"metadata type", one("\"__metadata__\":[]"), {"expected \"__metadata__\" to be an object of strings"}},
      {"metadata value", one("\"__metadata__\":{\"epoch\":3}"), {"metadata 'epoch' must be a string, found 3"}},
  };
}

TEST(Safetensors, EveryCorruptionIsANamedIoError) {
  TempDir dir;
  for (const Corruption& c : corruptions()) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file("bad.safetensors");
    write_bytes(path, c.bytes);
    std::vector<std::string> parts = c.expected;
    parts.push_back(path);
    expect_io_error([&] { load_safetensors(path); }, parts);
    parts.back() = "corrupt.mem";
    expect_io_error([&] { load_safetensors_from_memory(c.bytes.data(), c.bytes.size(), "corrupt.mem"); }, parts);
  }
}

TEST(Safetensors, MissingFileAndDirectoryAreIoErrors) {
  TempDir dir;
  const std::string missing = dir.file("nope.safetensors");
  expect_io_error([&] { load_safetensors(missing); }, {missing, "cannot open", "No such file or directory"});
  expect_io_error([&] { load_safetensors(dir.path.string()); }, {dir.path.string(), "is a directory"});
}

// Every truncation of a valid file fails cleanly (its last tensor reaches the end of the file),
// and every single-byte mutation either loads or fails with IoError: nothing else, and no
// out-of-bounds read under ASan.
TEST(Safetensors, MutationsAndTruncationsNeverCrash) {
  TempDir dir;
  const std::string path = dir.file("valid.safetensors");
  save_safetensors(path, sample_tensors(), {{"format", "pt"}});
  const Bytes valid = read_bytes(path);
  ASSERT_GT(valid.size(), 400u);

  for (size_t len = 0; len < valid.size(); ++len) {
    const std::string cut = dir.file("cut.safetensors");
    write_bytes(cut, valid.substr(0, len));
    EXPECT_THROW(load_safetensors(cut), IoError) << "truncated to " << len << " bytes";
    EXPECT_THROW(load_safetensors_from_memory(valid.data(), len), IoError) << "truncated to " << len << " bytes";
  }

  std::mt19937 rng(1234);
  static const char kInteresting[] = "0123456789-.e[]{}\",: \x00\xff\x80";  // JSON's syntax, NUL, bad UTF-8
  const std::string interesting(kInteresting, sizeof(kInteresting) - 1);
  int loaded = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    Bytes m = valid;
    const size_t pos = rng() % m.size();
    const char old = m[pos];
    do {
      m[pos] = (i % 2) ? static_cast<char>(rng()) : interesting[rng() % interesting.size()];
    } while (m[pos] == old);
    // A copy of exactly the mutated size, so ASan sees any read past the end.
    std::vector<char> exact(m.begin(), m.end());
    try {
      const SafetensorsFile f = load_safetensors_from_memory(exact.data(), exact.size());
      size_t total = 0;
      for (const auto& p : f.tensors) total += p.second.nbytes();
      EXPECT_LE(total, exact.size());
      ++loaded;
    } catch (const IoError&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutation " << i << " at byte " << pos << " threw a non-IoError: " << e.what();
    }
  }
  EXPECT_GT(loaded, 100);  // data bytes and header padding can change harmlessly
  EXPECT_GT(rejected, 100);
}

TEST(Safetensors, FailedSaveLeavesOldFileAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, sample_tensors());
  const Bytes before = read_bytes(path);

  expect_io_error(
      [&] {
        save_safetensors(path, {{"a", scalar(1.0)}, {"b", Tensor()}});
      },
      {path, "tensor 'b'", "undefined"});
  expect_io_error([&] { save_safetensors(path, {{"a", scalar(1.0)}, {"a", scalar(2.0)}}); }, {path, "'a' twice"});
  expect_io_error([&] { save_safetensors(path, {{"__metadata__", scalar(1.0)}}); }, {path, "reserved"});
  expect_io_error([&] { save_safetensors(path, {{"bad\xff", scalar(1.0)}}); }, {path, "UTF-8"});
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(dir.temporaries().empty());

  // A write that fails half way (the file-size limit stands in for a full disk).
  {
    struct rlimit old_limit {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills us instead of failing write()
    struct rlimit small = old_limit;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    try {
      save_safetensors(path, {{"big", zeros({100000})}});
      ADD_FAILURE() << "expected IoError";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("File too large"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(dir.temporaries().empty());

  // The rename fails when the target is a directory: the temporary was written, then removed.
  const std::string as_dir = dir.file("taken");
  fs::create_directory(as_dir);
  fs::create_directory(as_dir + "/inside");
  expect_io_error([&] { save_safetensors(as_dir, {{"a", scalar(1.0)}}); }, {as_dir, "cannot rename"});
  EXPECT_TRUE(fs::is_directory(as_dir + "/inside"));
  EXPECT_TRUE(dir.temporaries().empty());

  // A read-only directory (root ignores permissions, so only as another user).
  if (::geteuid() != 0) {
    fs::permissions(dir.path, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
    expect_io_error([&] { save_safetensors(path, {{"a", scalar(1.0)}}); }, {path, "Permission denied"});
    fs::permissions(dir.path, fs::perms::owner_write, fs::perm_options::add);
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_TRUE(dir.temporaries().empty());
  }
  EXPECT_EQ(load_safetensors(path).tensors.size(), sample_tensors().size());
}

TEST(Safetensors, SaveIntoMissingDirectoryIsIoError) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/model.safetensors");
  expect_io_error(
      [&] {
        save_safetensors(path, {{"a", scalar(1.0)}});
      },
      {path, "cannot create the temporary file", "No such file or directory"});
  EXPECT_FALSE(fs::exists(dir.file("no")));
}

// The committed golden files (written by PyTorch through tests/golden/make_golden.py) load, and
// follow the naming scheme of tests/golden/README.md that the golden op tests rely on.
TEST(Safetensors, GoldenFilesFollowTheNamingScheme) {
  const std::vector<std::string> files = {"softmax_t",  "kd_kl_div",  "cross_entropy", "conv2d",
                                          "batch_norm", "max_pool2d", "linear"};
  for (const std::string& stem : files) {
    const std::string path = std::string(KDCU_TEST_DATA_DIR) + "/golden/" + stem + ".safetensors";
    SCOPED_TRACE(path);
    const SafetensorsFile f = load_safetensors(path);
    EXPECT_FALSE(f.metadata.at("torch_version").empty());
    int cases = 0;
    for (const auto& [name, t] : f.tensors) {
      const size_t dot = name.find('.');
      ASSERT_NE(dot, std::string::npos) << name;
      const std::string c = name.substr(0, dot), role = name.substr(dot + 1);
      if (role == "out") {
        ++cases;
        EXPECT_TRUE(f.metadata.count("case." + c)) << c;
        EXPECT_EQ(f.at(c + ".w").shape(), t.shape()) << c;  // the gradients are of sum(out * w)
      }
      if (role.size() > 1 && role[0] == 'd' && f.contains(c + "." + role.substr(1))) {
        EXPECT_EQ(t.shape(), f.at(c + "." + role.substr(1)).shape()) << name;  // d<input> matches <input>
      }
      EXPECT_EQ(t.dtype(), role == "labels" ? DType::I64 : DType::F32) << name;
    }
    EXPECT_GT(cases, 1);
  }

  // The bytes mean what the header says: linear_nobias.out = x · weightᵀ, redone here in double.
  const SafetensorsFile lin = load_safetensors(std::string(KDCU_TEST_DATA_DIR) + "/golden/linear.safetensors");
  const Tensor& x = lin.at("linear_nobias.x");
  const Tensor& w = lin.at("linear_nobias.weight");
  const Tensor& out = lin.at("linear_nobias.out");
  ASSERT_EQ(out.shape(), (Shape{x.size(0), w.size(0)}));
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    for (std::int64_t j = 0; j < w.size(0); ++j) {
      double acc = 0;
      for (std::int64_t k = 0; k < x.size(1); ++k) acc += double(x.at<float>({i, k})) * w.at<float>({j, k});
      EXPECT_NEAR(out.at<float>({i, j}), acc, 1e-5 + 1e-5 * std::abs(acc)) << i << "," << j;
    }
  }
}

}  // namespace
}  // namespace kdcu
