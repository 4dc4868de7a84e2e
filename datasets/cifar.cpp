// CIFAR batch parsing: the size must be a whole number of records and every label in range
// before the records are used; the split loader insists on every batch file of the split.
#include "datasets/cifar.h"

#include <cstring>

#include "core/error.h"
#include "datasets/file_io.h"
#include "datasets/gzip.h"

namespace kdcu {
namespace datasets {

std::int64_t cifar_record_bytes(CifarKind kind) {
  return (kind == CifarKind::Cifar10 ? 1 : 2) + kCifarPixels;
}

CifarRecords parse_cifar(const std::uint8_t* bytes, size_t size, CifarKind kind, const std::string& name) {
  const bool c10 = kind == CifarKind::Cifar10;
  const auto rec = static_cast<size_t>(cifar_record_bytes(kind));
  const char* layout = c10 ? "1 label byte + 3072 pixel bytes" : "coarse and fine label bytes + 3072 pixel bytes";
  require<IoError>(!is_gzip(bytes, size), name,
                   ": is gzip-compressed; CIFAR batches are read uncompressed (extract the archive first)");
  require<IoError>(size > 0, name, ": empty file, expected CIFAR records of ", rec, " bytes (", layout, ")");
  require<IoError>(size % rec == 0, name, ": size ", size, " is not a whole number of ", rec, "-byte CIFAR-",
                   c10 ? "10" : "100", " records (", layout, "): ", size / rec, " records and ", size % rec,
                   " bytes over; truncated or not a CIFAR-", c10 ? "10" : "100", " batch?");
  const size_t n = size / rec;
  CifarRecords out;
  out.images.resize(n * static_cast<size_t>(kCifarPixels));
  out.labels.resize(n);
  if (!c10) out.coarse.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::uint8_t* r = bytes + i * rec;
    if (c10) {
      require<IoError>(r[0] < 10, name, ": record ", i, " (byte ", i * rec, ") has label ", int{r[0]},
                       ", expected 0-9; not a CIFAR-10 batch?");
      out.labels[i] = r[0];
    } else {
      require<IoError>(r[0] < 20, name, ": record ", i, " (byte ", i * rec, ") has coarse label ", int{r[0]},
                       ", expected 0-19; not a CIFAR-100 batch?");
      require<IoError>(r[1] < 100, name, ": record ", i, " (byte ", i * rec + 1, ") has fine label ", int{r[1]},
                       ", expected 0-99; not a CIFAR-100 batch?");
      out.coarse[i] = r[0];
      out.labels[i] = r[1];
    }
    std::memcpy(out.images.data() + i * kCifarPixels, r + (c10 ? 1 : 2), static_cast<size_t>(kCifarPixels));
  }
  return out;
}

std::vector<std::string> read_class_names(const std::string& path, std::int64_t expected) {
  const std::vector<std::uint8_t> bytes = read_file(path);
  std::vector<std::string> names;
  std::string line;
  const auto flush = [&] {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
  };
  for (std::uint8_t b : bytes) {
    if (b == '\n')
      flush();
    else
      line.push_back(static_cast<char>(b));
  }
  flush();
  require<IoError>(static_cast<std::int64_t>(names.size()) == expected, path, ": expected ", expected,
                   " class names (one per line), found ", names.size());
  return names;
}

Dataset load_cifar_dir(const std::string& dir, CifarKind kind, Split split, const std::string& name,
                       const std::string& hint) {
  require_directory(dir, name, hint);
  const bool c10 = kind == CifarKind::Cifar10;
  std::vector<std::string> files;
  if (c10 && split == Split::Train) {
    for (int b = 1; b <= 5; ++b) files.push_back(cat("data_batch_", b, ".bin"));
  } else {
    files.push_back(c10 ? "test_batch.bin" : (split == Split::Train ? "train.bin" : "test.bin"));
  }
  Dataset d;
  d.name = name + "/" + split_name(split);
  d.channels = 3;
  d.height = d.width = kCifarSide;
  d.num_classes = c10 ? 10 : 100;
  for (const std::string& f : files) {
    const std::string path = join_path(dir, f);
    if (!file_exists(path)) {
      const std::string expected =
          c10 ? "data_batch_1.bin ... data_batch_5.bin and test_batch.bin" : "train.bin and test.bin";
      std::string msg = cat(name, ": ", path, " does not exist (a CIFAR-", c10 ? "10" : "100",
                            " binary directory holds ", expected, ")");
      throw IoError(hint.empty() ? msg : msg + "; " + hint);
    }
    const std::vector<std::uint8_t> bytes = read_file(path);
    CifarRecords r = parse_cifar(bytes.data(), bytes.size(), kind, path);
    d.images.insert(d.images.end(), r.images.begin(), r.images.end());
    d.labels.insert(d.labels.end(), r.labels.begin(), r.labels.end());
    d.source += (d.source.empty() ? "" : " + ") + path;
  }
  const std::string meta = join_path(dir, c10 ? "batches.meta.txt" : "fine_label_names.txt");
  if (file_exists(meta)) d.class_names = read_class_names(meta, d.num_classes);
  d.validate();
  return d;
}

}  // namespace datasets
}  // namespace kdcu
