// cuDNN batch norm for measurement (batch_norm_cudnn.h). cuDNN 9 marks these calls deprecated in
// favour of its graph API; they remain the library's direct batch-norm entry points.
#include "kernels/cuda/batch_norm_cudnn.h"

#include "core/error.h"
#include "kernels/cuda/cudnn_util.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

int checked_int(std::int64_t v, const char* what) {
  require<ShapeError>(v >= 1 && v <= 0x7fffffff, "cuDNN batch norm: ", what, " must be in [1, 2^31), found ", v);
  return static_cast<int>(v);
}

}  // namespace

void cudnn_batch_norm_forward_training(const float* x, float* y, const float* weight, const float* bias,
                                       float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                                       std::int64_t n, std::int64_t c, std::int64_t s, double eps, double momentum,
                                       int device) {
  const TensorDesc xd(CUDNN_DATA_FLOAT, checked_int(n, "N"), checked_int(c, "C"), checked_int(s, "H*W"), 1);
  const TensorDesc pd(CUDNN_DATA_FLOAT, 1, checked_int(c, "C"), 1, 1);
  const float one = 1.0f, zero = 0.0f;
  KDCU_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(cudnn_handle(device), CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                          xd.get(), x, xd.get(), y, pd.get(), weight, bias, momentum,
                                                          running_mean, running_var, eps, save_mean, save_invstd));
}

void cudnn_batch_norm_backward(const float* x, const float* dy, const float* weight, const float* save_mean,
                               const float* save_invstd, float* dx, float* dweight, float* dbias, std::int64_t n,
                               std::int64_t c, std::int64_t s, double eps, int device) {
  const TensorDesc xd(CUDNN_DATA_FLOAT, checked_int(n, "N"), checked_int(c, "C"), checked_int(s, "H*W"), 1);
  const TensorDesc pd(CUDNN_DATA_FLOAT, 1, checked_int(c, "C"), 1, 1);
  const float one = 1.0f, zero = 0.0f;
  KDCU_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(device), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one,
                                                   &zero, xd.get(), x, xd.get(), dy, xd.get(), dx, pd.get(), weight,
                                                   dweight, dbias, eps, save_mean, save_invstd));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
