// Dropout over ops::dropout, with the shared generator described in dropout.h.
#include "nn/dropout.h"

#include "ops/dropout.h"

namespace kdcu {
namespace nn {
namespace {

// A non-owning handle to the process-wide default generator, which lives for the whole program.
std::shared_ptr<Generator> default_handle() {
  return std::shared_ptr<Generator>(std::shared_ptr<Generator>(), &default_generator());
}

}  // namespace

Dropout::Dropout(double p, std::shared_ptr<Generator> gen) : Module("Dropout"), p_(p) {
  require<ValueError>(p >= 0.0 && p <= 1.0, "Dropout: expected a probability p in [0, 1], found ", p);
  set_generator(std::move(gen));
}

void Dropout::set_generator(std::shared_ptr<Generator> gen) {
  gen_ = gen ? std::move(gen) : default_handle();
}

Tensor Dropout::forward(const Tensor& x) {
  return ops::dropout(x, p_, is_training(), *gen_);
}

void set_dropout_generator(Module& m, const std::shared_ptr<Generator>& gen) {
  for (const auto& [name, sub] : m.named_modules())
    if (auto* d = dynamic_cast<Dropout*>(sub)) d->set_generator(gen);
}

}  // namespace nn
}  // namespace kdcu
