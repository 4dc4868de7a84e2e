// The sticky device fault (fault.h).
#include "emu/fault.h"

#include <cstdio>
#include <mutex>

#include <cuda_runtime_api.h>

namespace kdcu {
namespace emu {
namespace {
std::mutex g_mutex;
bool g_fault = false;
std::string g_report;
}  // namespace

void raise_fault(const std::string& report) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "kdcu emulator: device fault\n%s\n", report.c_str());
  if (g_fault) return;
  g_fault = true;
  g_report = report;
}

bool has_fault() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_fault;
}

std::string fault_report() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_report;
}

std::string take_fault() {
  std::string r;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    r = g_report;
    g_fault = false;
    g_report.clear();
  }
  cudaGetLastError();  // the sticky error the fault left as this thread's last error
  return r;
}

}  // namespace emu
}  // namespace kdcu
