// The emulated cuDNN batch normalization, spatial mode (per channel over N, H and W):
// cudnnBatchNormalizationForwardTraining (batch statistics, running averages with the unbiased
// variance, the saved mean and inverse standard deviation) and cudnnBatchNormalizationBackward
// (the gradients from the saved statistics, or recomputed ones). Sums in double, each output
// rounded once.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // cuDNN 9 deprecates both entry points

#include <cmath>
#include <cstdint>
#include <cudnn.h>
#include <initializer_list>
#include <string>
#include <utility>

#include "emu/cudnn_state.h"

namespace kdcu {
namespace emu {
namespace {

using i64 = std::int64_t;

// The checked shapes of one call: x (n, c, s = h * w) and whether it is f64.
struct Shape {
  i64 n, c, s;
  bool f64;
  i64 count() const { return n * s; }
};

// x and its same-shaped partners (y; or dy and dx), and the per-channel parameter descriptor
// (1, C, 1, 1), float for float data and double for double data.
cudnnStatus_t check(const char* call, cudnnHandle_t handle, cudnnBatchNormMode_t mode,
                    std::initializer_list<std::pair<cudnnTensorDescriptor_t, const char*>> data,
                    cudnnTensorDescriptor_t param, const char* param_name, double epsilon, Shape* shape) {
  if (auto s = cudnn_check_handle(handle, call)) return s;
  if (mode != CUDNN_BATCHNORM_SPATIAL) {
    return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, "only CUDNN_BATCHNORM_SPATIAL is emulated");
  }
  const cudnnTensorStruct* x = nullptr;
  for (const auto& d : data) {
    if (auto s = cudnn_check_tensor(d.first, call, d.second)) return s;
    if (!x) {
      x = d.first;
    } else if (d.first->n != x->n || d.first->c != x->c || d.first->h != x->h || d.first->w != x->w ||
               d.first->type != x->type) {
      return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                        std::string(d.second) + " differs from " + data.begin()->second + " in shape or type");
    }
  }
  if (auto s = cudnn_check_tensor(param, call, param_name)) return s;
  if (cudnn_type_size(x->type) == 0) {
    return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, "only float and double data are emulated");
  }
  if (param->n != 1 || param->c != x->c || param->h != 1 || param->w != 1 || param->type != x->type) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      std::string(param_name) + " must be (1, " + std::to_string(x->c) + ", 1, 1) of the data's type");
  }
  if (!(epsilon >= CUDNN_BN_MIN_EPSILON)) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "epsilon " + std::to_string(epsilon) + " < CUDNN_BN_MIN_EPSILON");
  }
  *shape = Shape{x->n, x->c, static_cast<i64>(x->h) * x->w, x->type == CUDNN_DATA_DOUBLE};
  return CUDNN_STATUS_SUCCESS;
}

// Device operands: the data tensors and the per-channel vectors; a null one is skipped when
// `optional` (the statistics cuDNN lets the caller leave out).
bool operand(const char* call, const char* name, const void* p, i64 elems, const Shape& sh, bool optional = false) {
  if (optional && !p) return true;
  return cudnn_device_operand(call, name, p, static_cast<size_t>(elems) * (sh.f64 ? 8 : 4));
}

template <class T>
double at(const void* p, i64 i) {
  return static_cast<double>(static_cast<const T*>(p)[i]);
}
template <class T>
void put(void* p, i64 i, double v) {
  static_cast<T*>(p)[i] = static_cast<T>(v);
}
// p[i] = alpha * v + beta * p[i], once rounded; beta = 0 does not read p[i].
template <class T>
void blend(void* p, i64 i, double v, double alpha, double beta) {
  put<T>(p, i, beta == 0.0 ? alpha * v : alpha * v + beta * at<T>(p, i));
}

// The batch mean and biased variance of channel ch (two passes: no cancellation).
template <class T>
void moments(const void* x, const Shape& sh, i64 ch, double* mean, double* var) {
  double sum = 0.0;
  for (i64 i = 0; i < sh.n; ++i)
    for (i64 j = 0; j < sh.s; ++j) sum += at<T>(x, (i * sh.c + ch) * sh.s + j);
  *mean = sum / static_cast<double>(sh.count());
  double sq = 0.0;
  for (i64 i = 0; i < sh.n; ++i)
    for (i64 j = 0; j < sh.s; ++j) {
      const double d = at<T>(x, (i * sh.c + ch) * sh.s + j) - *mean;
      sq += d * d;
    }
  *var = sq / static_cast<double>(sh.count());
}

template <class T>
void forward(const Shape& sh, double alpha, double beta, const void* x, void* y, const void* scale, const void* bias,
             double factor, void* run_mean, void* run_var, double eps, void* save_mean, void* save_invstd) {
  for (i64 ch = 0; ch < sh.c; ++ch) {
    double mean, var;
    moments<T>(x, sh, ch, &mean, &var);
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double g = at<T>(scale, ch), b = at<T>(bias, ch);
    for (i64 i = 0; i < sh.n; ++i)
      for (i64 j = 0; j < sh.s; ++j) {
        const i64 e = (i * sh.c + ch) * sh.s + j;
        blend<T>(y, e, g * (at<T>(x, e) - mean) * invstd + b, alpha, beta);
      }
    if (run_mean) put<T>(run_mean, ch, factor * mean + (1.0 - factor) * at<T>(run_mean, ch));
    if (run_var) {
      // The running variance is unbiased (N*H*W - 1 degrees of freedom), as cuDNN documents.
      const double unbiased = var * static_cast<double>(sh.count()) / static_cast<double>(sh.count() - 1);
      put<T>(run_var, ch, factor * unbiased + (1.0 - factor) * at<T>(run_var, ch));
    }
    if (save_mean) put<T>(save_mean, ch, mean);
    if (save_invstd) put<T>(save_invstd, ch, invstd);
  }
}

template <class T>
void backward(const Shape& sh, double a_data, double b_data, double a_param, double b_param, const void* x,
              const void* dy, void* dx, const void* scale, void* dscale, void* dbias, double eps,
              const void* saved_mean, const void* saved_invstd) {
  const double m = static_cast<double>(sh.count());
  for (i64 ch = 0; ch < sh.c; ++ch) {
    double mean, invstd;
    if (saved_mean) {
      mean = at<T>(saved_mean, ch);
      invstd = at<T>(saved_invstd, ch);
    } else {
      double var;
      moments<T>(x, sh, ch, &mean, &var);
      invstd = 1.0 / std::sqrt(var + eps);
    }
    // sum(dy) and sum(dy * xhat): the bias and scale gradients, and the two projections of dx.
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (i64 i = 0; i < sh.n; ++i)
      for (i64 j = 0; j < sh.s; ++j) {
        const i64 e = (i * sh.c + ch) * sh.s + j;
        sum_dy += at<T>(dy, e);
        sum_dy_xhat += at<T>(dy, e) * (at<T>(x, e) - mean) * invstd;
      }
    const double g = at<T>(scale, ch);
    for (i64 i = 0; i < sh.n; ++i)
      for (i64 j = 0; j < sh.s; ++j) {
        const i64 e = (i * sh.c + ch) * sh.s + j;
        const double xhat = (at<T>(x, e) - mean) * invstd;
        blend<T>(dx, e, g * invstd * (at<T>(dy, e) - sum_dy / m - xhat * sum_dy_xhat / m), a_data, b_data);
      }
    blend<T>(dscale, ch, sum_dy_xhat, a_param, b_param);
    blend<T>(dbias, ch, sum_dy, a_param, b_param);
  }
}

}  // namespace
}  // namespace emu
}  // namespace kdcu

cudnnStatus_t cudnnBatchNormalizationForwardTraining(cudnnHandle_t handle, cudnnBatchNormMode_t mode, const void* alpha,
                                                     const void* beta, const cudnnTensorDescriptor_t xDesc,
                                                     const void* x, const cudnnTensorDescriptor_t yDesc, void* y,
                                                     const cudnnTensorDescriptor_t bnScaleBiasMeanVarDesc,
                                                     const void* bnScale, const void* bnBias,
                                                     double exponentialAverageFactor, void* resultRunningMean,
                                                     void* resultRunningVariance, double epsilon, void* resultSaveMean,
                                                     void* resultSaveInvVariance) {
  using namespace kdcu::emu;
  const char* call = "cudnnBatchNormalizationForwardTraining";
  Shape sh;
  if (auto s = check(call, handle, mode, {{xDesc, "xDesc"}, {yDesc, "yDesc"}}, bnScaleBiasMeanVarDesc,
                     "bnScaleBiasMeanVarDesc", epsilon, &sh)) {
    return s;
  }
  if ((resultSaveMean == nullptr) != (resultSaveInvVariance == nullptr)) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      "resultSaveMean and resultSaveInvVariance must both be NULL or both be given");
  }
  double al = 0, be = 0;
  if (auto s = cudnn_host_scale(call, "alpha", alpha, sh.f64, &al)) return s;
  if (auto s = cudnn_host_scale(call, "beta", beta, sh.f64, &be)) return s;
  const i64 all = sh.n * sh.c * sh.s;
  if (!operand(call, "x", x, all, sh) || !operand(call, "y", y, all, sh) ||
      !operand(call, "bnScale", bnScale, sh.c, sh) || !operand(call, "bnBias", bnBias, sh.c, sh) ||
      !operand(call, "resultRunningMean", resultRunningMean, sh.c, sh, true) ||
      !operand(call, "resultRunningVariance", resultRunningVariance, sh.c, sh, true) ||
      !operand(call, "resultSaveMean", resultSaveMean, sh.c, sh, true) ||
      !operand(call, "resultSaveInvVariance", resultSaveInvVariance, sh.c, sh, true)) {
    return CUDNN_STATUS_EXECUTION_FAILED;
  }
  (sh.f64 ? forward<double> : forward<float>)(sh, al, be, x, y, bnScale, bnBias, exponentialAverageFactor,
                                              resultRunningMean, resultRunningVariance, epsilon, resultSaveMean,
                                              resultSaveInvVariance);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBatchNormalizationBackward(
    cudnnHandle_t handle, cudnnBatchNormMode_t mode, const void* alphaDataDiff, const void* betaDataDiff,
    const void* alphaParamDiff, const void* betaParamDiff, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnTensorDescriptor_t dyDesc, const void* dy, const cudnnTensorDescriptor_t dxDesc, void* dx,
    const cudnnTensorDescriptor_t dBnScaleBiasDesc, const void* bnScale, void* dBnScaleResult, void* dBnBiasResult,
    double epsilon, const void* savedMean, const void* savedInvVariance) {
  using namespace kdcu::emu;
  const char* call = "cudnnBatchNormalizationBackward";
  Shape sh;
  if (auto s = check(call, handle, mode, {{xDesc, "xDesc"}, {dyDesc, "dyDesc"}, {dxDesc, "dxDesc"}}, dBnScaleBiasDesc,
                     "dBnScaleBiasDesc", epsilon, &sh)) {
    return s;
  }
  if ((savedMean == nullptr) != (savedInvVariance == nullptr)) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      "savedMean and savedInvVariance must both be NULL or both be given");
  }
  double ad = 0, bd = 0, ap = 0, bp = 0;
  if (auto s = cudnn_host_scale(call, "alphaDataDiff", alphaDataDiff, sh.f64, &ad)) return s;
  if (auto s = cudnn_host_scale(call, "betaDataDiff", betaDataDiff, sh.f64, &bd)) return s;
  if (auto s = cudnn_host_scale(call, "alphaParamDiff", alphaParamDiff, sh.f64, &ap)) return s;
  if (auto s = cudnn_host_scale(call, "betaParamDiff", betaParamDiff, sh.f64, &bp)) return s;
  const i64 all = sh.n * sh.c * sh.s;
  if (!operand(call, "x", x, all, sh) || !operand(call, "dy", dy, all, sh) || !operand(call, "dx", dx, all, sh) ||
      !operand(call, "bnScale", bnScale, sh.c, sh) || !operand(call, "dBnScaleResult", dBnScaleResult, sh.c, sh) ||
      !operand(call, "dBnBiasResult", dBnBiasResult, sh.c, sh) ||
      !operand(call, "savedMean", savedMean, sh.c, sh, true) ||
      !operand(call, "savedInvVariance", savedInvVariance, sh.c, sh, true)) {
    return CUDNN_STATUS_EXECUTION_FAILED;
  }
  (sh.f64 ? backward<double> : backward<float>)(sh, ad, bd, ap, bp, x, dy, dx, bnScale, dBnScaleResult, dBnBiasResult,
                                                epsilon, savedMean, savedInvVariance);
  return CUDNN_STATUS_SUCCESS;
}
