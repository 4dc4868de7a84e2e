// Walks ROOT/<class>/<file> in sorted order (so labels and sample order are the same on every
// machine), decodes each file and converts [H, W, C] to [C, H, W], enforcing one image size.
#include "datasets/image_folder.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "datasets/file_io.h"
#include "datasets/image_decode.h"

namespace kdcu {
namespace datasets {
namespace {

namespace fs = std::filesystem;

bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// The non-hidden entries of `dir`, sorted by name.
std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw IoError(cat("cannot list ", dir.string(), ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) throw IoError(cat("cannot list ", dir.string(), ": ", ec.message()));
    if (!hidden(it->path())) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string size_str(const ImageInfo& i) {
  return cat(i.width, "x", i.height);
}

}  // namespace

Dataset load_image_folder(const std::string& root, const FolderOptions& options, const std::string& name) {
  require<ValueError>(options.channels == 0 || options.channels == 1 || options.channels == 3, name,
                      ": channels must be 0 (from the first image), 1 or 3, found ", options.channels);
  require_directory(root, name);
  const std::string layout = " (expected ROOT/<class>/<image files>)";
  Dataset d;
  d.name = name;
  d.source = root;
  std::vector<fs::path> classes;
  for (const fs::path& p : sorted_entries(root)) {
    std::error_code ec;
    require<IoError>(fs::is_directory(p, ec), name, ": expected only class sub-folders in ", root, ", found ",
                     p.string(), layout);
    classes.push_back(p);
  }
  require<IoError>(!classes.empty(), name, ": ", root, " holds no class sub-folders", layout);

  ImageInfo first;
  std::string first_path;
  for (size_t label = 0; label < classes.size(); ++label) {
    const fs::path& dir = classes[label];
    d.class_names.push_back(dir.filename().string());
    const std::vector<fs::path> files = sorted_entries(dir);
    require<IoError>(!files.empty(), name, ": class folder ", dir.string(), " holds no images");
    for (const fs::path& f : files) {
      const std::string path = f.string();
      std::error_code ec;
      const fs::file_status st = fs::status(f, ec);
      require<IoError>(!fs::is_directory(st), name, ": ", path, " is a folder inside class folder ", dir.string(),
                       "; nested folders are not read", layout);
      require<IoError>(fs::is_regular_file(st), name, ": cannot read ", path, ": not a regular file (",
                       fs::exists(fs::symlink_status(f, ec)) && !fs::exists(st) ? "a broken link" : "a special file",
                       ")");
      const std::vector<std::uint8_t> bytes = read_file(path);
      const ImageInfo head = image_info(bytes.data(), bytes.size(), path);
      if (first_path.empty()) {
        first = head;
        first_path = path;
        d.width = head.width;
        d.height = head.height;
        d.channels = options.channels ? options.channels : (head.channels <= 2 ? 1 : 3);
      }
      require<IoError>(head.width == first.width && head.height == first.height, name,
                       ": mixed image sizes: ", first_path, " is ", size_str(first), " but ", path, " is ",
                       size_str(head),
                       "; kdcu requires one size for all images of a folder data set and does not resize (resize ",
                       "the files first)");
      ImageInfo decoded;
      const std::vector<std::uint8_t> hwc =
          decode_image(bytes.data(), bytes.size(), static_cast<int>(d.channels), path, &decoded);
      const size_t plane = static_cast<size_t>(d.height * d.width);
      const size_t c = static_cast<size_t>(d.channels);
      const size_t base = d.images.size();
      d.images.resize(base + plane * c);
      for (size_t ch = 0; ch < c; ++ch)
        for (size_t p = 0; p < plane; ++p) d.images[base + ch * plane + p] = hwc[p * c + ch];
      d.labels.push_back(static_cast<std::int64_t>(label));
    }
  }
  d.num_classes = static_cast<std::int64_t>(d.class_names.size());
  d.validate();
  return d;
}

}  // namespace datasets
}  // namespace kdcu
