// Dropout: PyTorch's nn.Dropout (inverted: kept elements scaled by 1 / (1 - p) in training, the
// identity in eval), drawing its masks from a Generator it shares (see below); no FLOPs counted.
#pragma once

#include <memory>

#include "core/rng.h"
#include "nn/module.h"

namespace kdcu {
namespace nn {

// Where the masks come from: a std::shared_ptr<Generator>, not a reference, so that
//  - the layer can never outlive its generator (a model returned by create_model carries its own);
//  - several layers (and, if wanted, the trainer) can share one stream: one seed drives all;
//  - checkpointing is the generator's two integers (seed, offset) through generator(), restored
//    with Generator::set_state, and the next mask continues the same sequence.
// The generator is not part of the state_dict (PyTorch has no such entry; strict loads must match).
class Dropout : public Module {
 public:
  // p in [0, 1] (ValueError otherwise). A null generator means the process-wide default one.
  explicit Dropout(double p = 0.5, std::shared_ptr<Generator> gen = nullptr);

  Tensor forward(const Tensor& x) override;  // ops::dropout(x, p, is_training(), *generator())

  double p() const { return p_; }
  const std::shared_ptr<Generator>& generator() const { return gen_; }
  void set_generator(std::shared_ptr<Generator> gen);  // null: the default generator again

 private:
  double p_;
  std::shared_ptr<Generator> gen_;  // never null
};

// Gives every Dropout in `m` (m included) the generator `gen` (null: the default generator).
void set_dropout_generator(Module& m, const std::shared_ptr<Generator>& gen);

}  // namespace nn
}  // namespace kdcu
