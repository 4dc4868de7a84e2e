// What a run records about the kdcu that made it.
#pragma once

namespace kdcu {
namespace app {

// The git commit of the source tree at build time ("<hash>[-dirty]", or "unknown").
const char* build_commit();

}  // namespace app
}  // namespace kdcu
