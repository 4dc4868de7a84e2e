// Warp-synchronous operations (block_state.h): when every lane named in a mask has arrived, the
// group's results are computed at once, following PTX's shfl.sync / vote.sync / bar.warp.sync:
//
//   shuffle source lane (PTX ISA, shfl.sync): with c = ((32 - width) << 8) | clamp, where clamp is
//   0 for .up and 31 otherwise, segmask = c[12:8]:
//     maxLane = (lane & segmask) | (clamp & ~segmask),  minLane = lane & segmask
//     .idx:  j = minLane | (b & ~segmask)   pval = j <= maxLane
//     .up:   j = lane - b                   pval = j >= maxLane
//     .down: j = lane + b                   pval = j <= maxLane
//     .bfly: j = lane ^ b                   pval = j <= maxLane
//   (b = the source lane, delta or lane mask, bits 4:0); !pval reads the lane's own value.
//
// What the hardware leaves undefined is a fault here: reading a lane outside the mask or one that
// has exited, a lane executing an operation whose mask leaves itself out, a width that is not a
// power of two in [1, 32], lanes of one group disagreeing on the operation.
#include <map>
#include <sstream>

#include "emu/block_state.h"
#include "emu/fault.h"

namespace kdcu {
namespace emu {

const char* warp_kind_name(WarpKind k) {
  switch (k) {
    case WarpKind::kShflIdx: return "__shfl_sync";
    case WarpKind::kShflUp: return "__shfl_up_sync";
    case WarpKind::kShflDown: return "__shfl_down_sync";
    case WarpKind::kShflXor: return "__shfl_xor_sync";
    case WarpKind::kBallot: return "__ballot_sync";
    case WarpKind::kAny: return "__any_sync";
    case WarpKind::kAll: return "__all_sync";
    case WarpKind::kSyncWarp: return "__syncwarp";
  }
  return "?";
}

std::string ranges(const std::vector<int>& ids) {
  std::ostringstream out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (i > 0) out << ", ";
    out << ids[i];
    if (j > i) out << "-" << ids[j];
    i = j + 1;
  }
  return out.str();
}

std::string block_header(const BlockRun& b) {
  std::ostringstream out;
  out << "kernel '" << b.name << "' (grid (" << b.grid.x << "," << b.grid.y << "," << b.grid.z << "), block ("
      << b.block.x << "," << b.block.y << "," << b.block.z << ")), block (" << b.block_idx.x << "," << b.block_idx.y
      << "," << b.block_idx.z << ")";
  return out.str();
}

std::string describe_waits(const BlockRun& b) {
  std::map<std::string, std::vector<int>> groups;  // description -> threads
  std::vector<int> exited;
  for (int i = 0; i < b.count; ++i) {
    const Thread& t = (*b.threads)[static_cast<size_t>(i)];
    std::ostringstream d;
    switch (t.state) {
      case State::kExited: exited.push_back(i); continue;
      case State::kRunnable:
        d << (t.spun ? "are still running (retrying an atomic)" : "have passed their last synchronisation point");
        break;
      case State::kBarrier: d << "wait at __syncthreads (" << t.file << ":" << t.line << ")"; break;
      case State::kWarp:
        d << "wait at " << warp_kind_name(t.op.kind) << " with mask 0x" << std::hex << t.op.mask << std::dec << " ("
          << t.file << ":" << t.line << ")";
        break;
    }
    groups[d.str()].push_back(i);
  }
  std::ostringstream out;
  for (const auto& g : groups) out << "  threads " << ranges(g.second) << " " << g.first << "\n";
  if (!exited.empty()) out << "  threads " << ranges(exited) << " have exited\n";
  return out.str();
}

namespace {

bool same_operation(const Thread& a, const Thread& b) {
  if (a.op.kind != b.op.kind || a.op.mask != b.op.mask) return false;
  // __syncwarp may meet at different call sites (sm_70+); shuffles and votes must be the same one.
  return a.op.kind == WarpKind::kSyncWarp || (a.line == b.line && a.file == b.file);
}

int source_lane(WarpKind kind, int lane, int b, int width, bool* pval) {
  const int segmask = (32 - width) & 31;
  const int clamp = kind == WarpKind::kShflUp ? 0 : 31;
  const int max_lane = (lane & segmask) | (clamp & ~segmask);
  const int min_lane = lane & segmask;
  b &= 31;
  int j = lane;
  switch (kind) {
    case WarpKind::kShflIdx: j = min_lane | (b & ~segmask), *pval = j <= max_lane; break;
    case WarpKind::kShflUp: j = lane - b, *pval = j >= max_lane; break;
    case WarpKind::kShflDown: j = lane + b, *pval = j <= max_lane; break;
    case WarpKind::kShflXor: j = lane ^ b, *pval = j <= max_lane; break;
    default: *pval = false; break;
  }
  return *pval ? j : lane;
}

bool is_shuffle(WarpKind k) {
  return k == WarpKind::kShflIdx || k == WarpKind::kShflUp || k == WarpKind::kShflDown || k == WarpKind::kShflXor;
}

std::string hex(unsigned v) {
  std::ostringstream out;
  out << "0x" << std::hex << v;
  return out.str();
}

// Resolves the group of lane `first` of warp `warp` if it is complete: 1 resolved, 0 not yet, -1 fault.
int resolve_group(BlockRun& b, int warp, int first) {
  std::vector<Thread>& threads = *b.threads;
  const int base = warp * 32;
  const int lanes = std::min(32, b.count - base);
  Thread& lead = threads[static_cast<size_t>(base + first)];
  const unsigned mask = lead.op.mask;
  auto fault = [&](const std::string& what) {
    raise_fault(block_header(b) + ", warp " + std::to_string(warp) + ": " + what + "\n" + describe_waits(b));
    return -1;
  };
  if (!(mask >> first & 1u))
    return fault("lane " + std::to_string(first) + " executes " + warp_kind_name(lead.op.kind) + " (" + lead.file +
                 ":" + std::to_string(lead.line) + ") with mask " + hex(mask) + ", which leaves the lane itself out");
  unsigned arrived = 0;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    if (l >= lanes) continue;  // no such thread: like an exited one
    const Thread& t = threads[static_cast<size_t>(base + l)];
    if (t.state == State::kExited) continue;
    if (t.state != State::kWarp || !same_operation(t, lead)) return 0;  // not (yet) at this operation
    arrived |= 1u << l;
  }
  const WarpKind kind = lead.op.kind;
  if (is_shuffle(kind)) {
    const int width = lead.op.width;
    if (width < 1 || width > 32 || (width & (width - 1)) != 0)
      return fault(std::string(warp_kind_name(kind)) + " (" + lead.file + ":" + std::to_string(lead.line) +
                   ") with width " + std::to_string(width) + ": the width must be a power of two in [1, 32]");
    for (int l = 0; l < 32; ++l) {
      if (!(arrived >> l & 1u)) continue;
      Thread& t = threads[static_cast<size_t>(base + l)];
      if (t.op.width != width)
        return fault("lanes of one " + std::string(warp_kind_name(kind)) + " (" + t.file + ":" +
                     std::to_string(t.line) + ") disagree on the width: " + std::to_string(width) + " and " +
                     std::to_string(t.op.width));
      bool pval = false;
      const int j = source_lane(kind, l, t.op.arg, width, &pval);
      if (!(arrived >> j & 1u)) {
        const bool in_mask = mask >> j & 1u;
        return fault("lane " + std::to_string(l) + " of " + warp_kind_name(kind) + " (" + t.file + ":" +
                     std::to_string(t.line) + ", width " + std::to_string(width) + ", argument " +
                     std::to_string(t.op.arg) + ") reads lane " + std::to_string(j) +
                     (in_mask ? ", which has exited" : ", outside the mask " + hex(mask)) +
                     ": the value is undefined on a GPU");
      }
      t.op.result = threads[static_cast<size_t>(base + j)].op.value;
    }
  } else {
    unsigned ballot = 0;
    for (int l = 0; l < 32; ++l)
      if ((arrived >> l & 1u) && threads[static_cast<size_t>(base + l)].op.value != 0) ballot |= 1u << l;
    for (int l = 0; l < 32; ++l) {
      if (!(arrived >> l & 1u)) continue;
      WarpWait& op = threads[static_cast<size_t>(base + l)].op;
      op.result = kind == WarpKind::kBallot ? ballot : kind == WarpKind::kAny ? (ballot != 0) : (ballot == arrived);
    }
  }
  for (int l = 0; l < 32; ++l) {
    if (!(arrived >> l & 1u)) continue;
    Thread& t = threads[static_cast<size_t>(base + l)];
    t.state = State::kRunnable;
    t.group = arrived;
    for (int m = 0; m < 32; ++m)
      if (arrived >> m & 1u) t.peer_slot[m] = static_cast<unsigned char>(threads[static_cast<size_t>(base + m)].warp_seq % 4);
  }
  return 1;
}

}  // namespace

int resolve_warp_ops(BlockRun& b) {
  int released = 0;
  const int warps = (b.count + 31) / 32;
  for (int w = 0; w < warps; ++w) {
    for (int l = 0; l < 32 && w * 32 + l < b.count; ++l) {
      const Thread& t = (*b.threads)[static_cast<size_t>(w * 32 + l)];
      if (t.state != State::kWarp) continue;
      const int r = resolve_group(b, w, l);
      if (r < 0) return -1;
      if (r > 0) released += __builtin_popcount(t.op.mask);
    }
  }
  return released;
}

}  // namespace emu
}  // namespace kdcu
