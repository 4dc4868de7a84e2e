// IDX reading: the header is parsed and its declared size checked against the input before any
// data is copied; gzip input is inflated in 1 MiB steps, so memory follows what the file holds.
#include "datasets/idx.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "datasets/file_io.h"
#include "datasets/gzip.h"

namespace kdcu {
namespace datasets {
namespace {

constexpr int kMaxDims = 8;
constexpr std::uint64_t kMaxDataBytes = 1ull << 34;  // 16 GiB: far beyond any IDX data set
constexpr size_t kChunk = 1 << 20;

// The bytes of the (possibly decompressed) file, read front to back.
class Source {
 public:
  Source(const std::uint8_t* bytes, size_t size, const std::string& name) : bytes_(bytes), size_(size) {
    if (is_gzip(bytes, size)) gz_ = std::make_unique<GzipReader>(bytes, size, name);
  }
  bool compressed() const { return gz_ != nullptr; }
  size_t read(std::uint8_t* dst, size_t n) {
    if (gz_) return gz_->read(dst, n);
    const size_t k = std::min(n, size_ - pos_);
    if (k) std::memcpy(dst, bytes_ + pos_, k);
    pos_ += k;
    return k;
  }
  size_t remaining_plain() const { return size_ - pos_; }

 private:
  const std::uint8_t* bytes_;
  size_t size_, pos_ = 0;
  std::unique_ptr<GzipReader> gz_;
};

const char* type_name(std::uint8_t t) {
  switch (t) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "not an IDX type";
  }
}

std::string dims_str(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string hex32(std::uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
  return s;
}

}  // namespace

IdxArray parse_idx(const std::uint8_t* bytes, size_t size, const std::string& name) {
  Source src(bytes, size, name);
  const char* kind = src.compressed() ? "decompressed data" : "file";
  std::uint8_t magic[4];
  const size_t got = src.read(magic, 4);
  require<IoError>(got == 4, name, ": too short for an IDX file: expected a 4-byte magic number, the ", kind, " holds ",
                   got, " bytes");
  const std::uint32_t m =
      (std::uint32_t{magic[0]} << 24) | (std::uint32_t{magic[1]} << 16) | (std::uint32_t{magic[2]} << 8) | magic[3];
  require<IoError>(magic[0] == 0 && magic[1] == 0, name, ": wrong magic number ", hex32(m),
                   ": expected an IDX file (0x000008NN: two zero bytes, type 0x08, the number of dims; e.g. ",
                   "0x00000803 for images, 0x00000801 for labels)");
  require<IoError>(magic[2] == 0x08, name, ": IDX magic number ", hex32(m), " declares data type ", "0x",
                   hex32(magic[2]).substr(8), " (", type_name(magic[2]),
                   "); kdcu reads only unsigned-byte (0x08) IDX files");
  const int ndims = magic[3];
  require<IoError>(ndims >= 1 && ndims <= kMaxDims, name, ": IDX magic number ", hex32(m), " declares ", ndims,
                   " dims, expected 1 to ", kMaxDims);

  IdxArray out;
  std::uint8_t ext[4 * kMaxDims];
  const size_t header_dims = static_cast<size_t>(4 * ndims);
  const size_t got_dims = src.read(ext, header_dims);
  require<IoError>(got_dims == header_dims, name, ": truncated IDX header: ", ndims, " dims need ", 4 + header_dims,
                   " header bytes, the ", kind, " holds ", 4 + got_dims);
  std::uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const std::uint8_t* e = ext + 4 * d;
    const std::uint64_t v =
        (std::uint64_t{e[0]} << 24) | (std::uint64_t{e[1]} << 16) | (std::uint64_t{e[2]} << 8) | e[3];
    out.dims.push_back(static_cast<std::int64_t>(v));
    // total <= 2^34 + 1 and v < 2^32: the 128-bit product cannot overflow before the clamp.
    total = static_cast<std::uint64_t>(
        std::min<unsigned __int128>(static_cast<unsigned __int128>(total) * v, kMaxDataBytes + 1));
  }
  require<IoError>(total <= kMaxDataBytes, name, ": IDX header declares dims ", dims_str(out.dims),
                   ", more than kdcu's limit of ", kMaxDataBytes, " data bytes");

  const std::uint64_t header = 4 + header_dims;
  if (!src.compressed()) {
    const std::uint64_t have = src.remaining_plain();
    require<IoError>(have >= total, name, ": truncated IDX file: header declares dims ", dims_str(out.dims), " = ",
                     total, " data bytes after the ", header, "-byte header, the file holds ", have);
    require<IoError>(have == total, name, ": ", have - total, " unexpected bytes after the ", total,
                     " data bytes that IDX header dims ", dims_str(out.dims), " declare");
    out.data.resize(total);
    if (total) src.read(out.data.data(), total);
    return out;
  }
  // Grow with what the stream actually delivers, never to the declared size up front.
  while (out.data.size() < total) {
    const size_t old = out.data.size();
    const size_t step = static_cast<size_t>(std::min<std::uint64_t>(kChunk, total - old));
    out.data.resize(old + step);
    const size_t k = src.read(out.data.data() + old, step);
    require<IoError>(k == step, name, ": truncated IDX data: header declares dims ", dims_str(out.dims), " = ", total,
                     " data bytes, the decompressed stream holds ", old + k);
  }
  std::uint8_t extra = 0;
  require<IoError>(src.read(&extra, 1) == 0, name, ": the decompressed stream holds more than the ", total,
                   " data bytes that IDX header dims ", dims_str(out.dims), " declare");
  return out;
}

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file(path);
  return parse_idx(bytes.data(), bytes.size(), path);
}

Dataset idx_dataset(IdxArray images, IdxArray labels, const std::string& images_name, const std::string& labels_name,
                    const std::string& name) {
  require<IoError>(images.dims.size() == 3, images_name, ": expected an IDX images file with 3 dims [N, H, W], found ",
                   images.dims.size(), " dims ", dims_str(images.dims),
                   images.dims.size() == 1 ? " (is it a labels file?)" : "");
  require<IoError>(labels.dims.size() == 1, labels_name, ": expected an IDX labels file with 1 dim [N], found ",
                   labels.dims.size(), " dims ", dims_str(labels.dims),
                   labels.dims.size() == 3 ? " (is it an images file?)" : "");
  const std::int64_t n = images.dims[0];
  require<IoError>(n > 0, images_name, ": holds no images (dims ", dims_str(images.dims), ")");
  require<IoError>(images.dims[1] > 0 && images.dims[2] > 0, images_name, ": expected images of positive size, found ",
                   images.dims[1], "x", images.dims[2]);
  require<IoError>(labels.dims[0] == n, "image/label count mismatch: ", images_name, " holds ", n, " images but ",
                   labels_name, " holds ", labels.dims[0], " labels");
  Dataset d;
  d.name = name;
  d.source = images_name + " + " + labels_name;
  d.channels = 1;
  d.height = images.dims[1];
  d.width = images.dims[2];
  d.images = std::move(images.data);
  d.labels.assign(labels.data.begin(), labels.data.end());
  d.num_classes = 1 + *std::max_element(d.labels.begin(), d.labels.end());
  d.validate();
  return d;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path, const std::string& name) {
  return idx_dataset(read_idx(images_path), read_idx(labels_path), images_path, labels_path, name);
}

Dataset load_idx_dir(const std::string& dir, Split split, const std::string& name, const std::string& hint) {
  require_directory(dir, name, hint);
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const auto find = [&](const std::string& base) {
    const std::string plain = join_path(dir, base);
    if (file_exists(plain)) return plain;
    if (file_exists(plain + ".gz")) return plain + ".gz";
    std::string msg = cat(name, ": neither ", plain, " nor ", plain, ".gz exists");
    throw IoError(hint.empty() ? msg : msg + "; " + hint);
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels, name + "/" + split_name(split));
}

void write_idx(const std::string& path, const std::vector<std::int64_t>& dims, const std::uint8_t* data, bool gzip) {
  require<ValueError>(!dims.empty() && dims.size() <= kMaxDims, "write_idx ", path, ": expected 1 to ", kMaxDims,
                      " dims, found ", dims.size());
  std::vector<std::uint8_t> bytes = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  std::uint64_t total = 1;
  for (std::int64_t v : dims) {
    require<ValueError>(v >= 0 && v <= 0xFFFFFFFFll, "write_idx ", path, ": extent ", v, " does not fit in u32");
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(v >> shift));
    total *= static_cast<std::uint64_t>(v);
  }
  bytes.insert(bytes.end(), data, data + total);
  if (gzip) bytes = gzip_compress(bytes.data(), bytes.size());
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace datasets
}  // namespace kdcu
