// Image folders: ROOT/<class>/<image>, one sub-folder per class (class names = the sorted folder
// names, label = position), PNG/JPEG/BMP decoded by stb_image into u8 [N, C, H, W], gray or RGB.
// Size rule: every image must have the same width and height; kdcu never resizes.
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace kdcu {
namespace datasets {

struct FolderOptions {
  // 1 (gray) or 3 (RGB); 0 picks from the first image in sorted order: 1 when it is gray (with or
  // without alpha), 3 otherwise. Other images are converted (see decode_image), alpha dropped.
  int channels = 0;
};

// Loads every image under `root`. Files and folders whose names start with '.' are skipped
// (hidden); everything else must fit the layout. IoError naming the path for: a missing root, no
// class sub-folders, a file directly in ROOT, a folder inside a class folder, an empty class
// folder, a broken link or special file, a file that is not a PNG/JPEG/BMP image or does not
// decode, and an image whose size differs from the first one (naming both files and sizes).
Dataset load_image_folder(const std::string& root, const FolderOptions& options = {},
                          const std::string& name = "folder");

}  // namespace datasets
}  // namespace kdcu
