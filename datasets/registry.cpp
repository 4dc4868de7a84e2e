// The named-dataset table: where each data set lives, how to get it, its class names and its
// published statistics. Label ranges are checked here, where the number of classes is known.
#include "datasets/registry.h"

#include <filesystem>

#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/file_io.h"
#include "datasets/idx.h"

namespace kdcu {
namespace datasets {
namespace {

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string hint_for(const std::string& name) {
  if (name == "fashion-mnist")
    return "install it with `apt-get install dataset-fashion-mnist` (Debian) or pass --data DIR holding the four "
           "IDX files";
  if (name == "mnist")
    return "put the four MNIST IDX files (train-images-idx3-ubyte[.gz], ...) there or pass --data DIR";
  if (name == "cifar10") return "extract the CIFAR-10 binary version (cifar-10-binary.tar.gz) there or pass --data DIR";
  return "extract the CIFAR-100 binary version (cifar-100-binary.tar.gz) there or pass --data DIR";
}

std::string names_str(const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + names[i];
  return s + (names.size() > 8 ? cat(", ... (", names.size(), " in all)]") : "]");
}

// IDX labels are bytes; a 10-class data set must not have label 10..255.
void check_classes(Dataset& d, const std::vector<std::string>& names) {
  const auto k = static_cast<std::int64_t>(names.size());
  require<IoError>(d.num_classes <= k, d.source, ": holds label ", d.num_classes - 1, ", expected labels 0-", k - 1,
                   " for ", d.name);
  d.num_classes = k;
  d.class_names = names;
}

NamedDataset load_idx_family(const std::string& name, const std::string& dir, const std::vector<std::string>& names,
                             Normalization norm) {
  NamedDataset nd;
  nd.name = name;
  nd.dir = dir;
  nd.train = load_idx_dir(dir, Split::Train, name, hint_for(name));
  nd.test = load_idx_dir(dir, Split::Test, name, hint_for(name));
  check_classes(nd.train, names);
  check_classes(nd.test, names);
  require<IoError>(nd.train.height == nd.test.height && nd.train.width == nd.test.width, name, ": train images are ",
                   nd.train.height, "x", nd.train.width, " but test images are ", nd.test.height, "x", nd.test.width);
  nd.class_names = names;
  nd.known_normalization = std::move(norm);
  return nd;
}

NamedDataset load_cifar(const std::string& name, const std::string& dir, CifarKind kind, Normalization norm) {
  NamedDataset nd;
  nd.name = name;
  nd.dir = dir;
  nd.train = load_cifar_dir(dir, kind, Split::Train, name, hint_for(name));
  nd.test = load_cifar_dir(dir, kind, Split::Test, name, hint_for(name));
  if (kind == CifarKind::Cifar10 && nd.train.class_names.empty()) {  // no batches.meta.txt: the published names
    nd.train.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  }
  if (nd.test.class_names.empty()) nd.test.class_names = nd.train.class_names;
  nd.class_names = nd.train.class_names;
  nd.known_normalization = std::move(norm);
  return nd;
}

NamedDataset load_folder(const std::string& path, const FolderOptions& options) {
  namespace fs = std::filesystem;
  NamedDataset nd;
  nd.name = "folder:" + path;
  nd.dir = path;
  require_directory(path, nd.name);
  const std::string train_dir = join_path(path, "train");
  std::string test_dir = join_path(path, "test");
  std::error_code ec;
  if (!fs::is_directory(test_dir, ec) && fs::is_directory(join_path(path, "val"), ec))
    test_dir = join_path(path, "val");
  for (const std::string& d : {train_dir, test_dir})
    require<IoError>(fs::is_directory(d, ec), nd.name, ": ", d,
                     " does not exist; a folder data set is PATH/train/<class>/<images> and PATH/test/<class>/<images>"
                     " (or PATH/val/...)");
  nd.train = load_image_folder(train_dir, options, nd.name + "/train");
  FolderOptions test_options = options;
  test_options.channels = static_cast<int>(nd.train.channels);
  nd.test = load_image_folder(test_dir, test_options, nd.name + "/test");
  require<IoError>(nd.train.class_names == nd.test.class_names, nd.name, ": ", train_dir, " has class folders ",
                   names_str(nd.train.class_names), " but ", test_dir, " has ", names_str(nd.test.class_names),
                   "; expected the same in both");
  require<IoError>(nd.train.height == nd.test.height && nd.train.width == nd.test.width, nd.name, ": train images are ",
                   nd.train.width, "x", nd.train.height, " but test images are ", nd.test.width, "x", nd.test.height,
                   "; kdcu does not resize");
  nd.class_names = nd.train.class_names;
  return nd;
}

}  // namespace

Normalization NamedDataset::normalization() const {
  return known_normalization ? *known_normalization : compute_normalization(train);
}

std::vector<std::string> dataset_names() {
  return {"fashion-mnist", "mnist", "cifar10", "cifar100", "folder:PATH"};
}

std::string default_data_dir(const std::string& name) {
  if (name == "fashion-mnist") return kFashionDir;
  if (name == "mnist") return "data/mnist";
  if (name == "cifar10") return "data/cifar-10-batches-bin";
  if (name == "cifar100") return "data/cifar-100-binary";
  throw ValueError(cat("unknown data set '", name, "' (expected fashion-mnist, mnist, cifar10, cifar100)"));
}

NamedDataset load_dataset(const std::string& spec, const std::string& data_dir, const FolderOptions& folder) {
  if (spec == "folder" || spec.rfind("folder:", 0) == 0) {
    const std::string path = spec.size() > 7 ? spec.substr(7) : "";
    require<ValueError>(!path.empty() || !data_dir.empty(), "data set '", spec,
                        "': expected folder:PATH or --data PATH for a folder data set");
    require<ValueError>(path.empty() || data_dir.empty() || path == data_dir, "data set '", spec, "': the folder path ",
                        path, " and --data ", data_dir, " disagree; give one");
    return load_folder(path.empty() ? data_dir : path, folder);
  }
  if (spec != "fashion-mnist" && spec != "mnist" && spec != "cifar10" && spec != "cifar100")
    throw ValueError(
        cat("unknown data set '", spec, "' (expected fashion-mnist, mnist, cifar10, cifar100 or folder:PATH)"));
  const std::string dir = data_dir.empty() ? default_data_dir(spec) : data_dir;
  if (spec == "fashion-mnist") return load_idx_family(spec, dir, kFashionClasses, {{0.2860}, {0.3530}});
  if (spec == "mnist")
    return load_idx_family(spec, dir, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, {{0.1307}, {0.3081}});
  if (spec == "cifar10")
    return load_cifar(spec, dir, CifarKind::Cifar10, {{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}});
  return load_cifar(spec, dir, CifarKind::Cifar100, {{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}});
}

}  // namespace datasets
}  // namespace kdcu
