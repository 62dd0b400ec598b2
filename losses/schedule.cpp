// Loss names, GR's schedules and the per-dataset loss table.
#include <cmath>

#include "losses/spml_loss.h"

namespace spml::losses {
namespace {
struct NamedKind {
  const char* name;
  LossKind kind;
};
constexpr NamedKind kLosses[] = {{"gr", LossKind::GR},     {"an", LossKind::AN},       {"an_ls", LossKind::AN_LS},
                                 {"wan", LossKind::WAN},   {"epr", LossKind::EPR},     {"role", LossKind::ROLE},
                                 {"em", LossKind::EM},     {"bce", LossKind::BCE},     {"em_apl", LossKind::EM_APL},
                                 {"ll_r", LossKind::LL_R}, {"ll_ct", LossKind::LL_CT}, {"ll_cp", LossKind::LL_CP}};

void check_length(const std::vector<double>& v, std::size_t n, const char* name, const char* spelling) {
  SPML_CHECK(v.size() == n, "GR: ", name, " needs exactly ", n, " values (", spelling, "), got ", v.size());
  for (double x : v) SPML_CHECK(std::isfinite(x), "GR: ", name, " has a non-finite value ", x);
}
}  // namespace

LossKind parse_loss_name(const std::string& name) {
  for (const auto& l : kLosses)
    if (name == l.name) return l.kind;
  std::string valid;
  for (const auto& l : kLosses) valid += (valid.empty() ? "" : ", ") + std::string(l.name);
  SPML_FAIL("unknown loss '", name, "': expected one of ", valid);
}

const char* loss_name(LossKind kind) {
  for (const auto& l : kLosses)
    if (l.kind == kind) return l.name;
  return "unknown";
}

std::vector<std::string> loss_names() {
  std::vector<std::string> out;
  for (const auto& l : kLosses) out.push_back(l.name);
  return out;
}

GrSchedule::GrSchedule(const GrSettings& settings, int epochs, int linear_init)
    : settings_(settings), epochs_(epochs), linear_init_(linear_init) {
  check_length(settings.beta, 4, "beta", "w0 wT b0 bT");
  check_length(settings.alpha, 4, "alpha", "mu0 sigma0 muT sigmaT");
  check_length(settings.q2q3, 2, "q2q3", "q2 q3");
  SPML_CHECK(linear_init >= 0, "GR: linear_init must be >= 0, got ", linear_init);
  SPML_CHECK(epochs > linear_init, "GR: epochs (", epochs, ") must be greater than linear_init (", linear_init, ")");
  SPML_CHECK(settings.alpha[1] > 0 && settings.alpha[3] > 0, "GR: alpha's sigma0 and sigmaT must be > 0, got ",
             settings.alpha[1], " and ", settings.alpha[3]);
  SPML_CHECK(settings.q2q3[0] > 0 && settings.q2q3[1] > 0, "GR: q2q3's q2 and q3 must be > 0, got ", settings.q2q3[0],
             " and ", settings.q2q3[1]);
}

GrEpochValues GrSchedule::at(int epoch) const {
  SPML_CHECK(epoch >= 1 && epoch <= epochs_, "GR: epoch ", epoch, " outside 1..", epochs_);
  const double span = double(epochs_ - linear_init_);
  // The offsets differ on purpose (the published code): beta lags alpha by one epoch.
  const double f_beta = std::max(epoch - linear_init_ - 1, 0) / span;
  const double f_alpha = std::max(epoch - linear_init_, 0) / span;
  const auto& be = settings_.beta;
  const auto& al = settings_.alpha;
  return {be[0] + (be[1] - be[0]) * f_beta,
          be[2] + (be[3] - be[2]) * f_beta,
          al[0] + (al[2] - al[0]) * f_alpha,
          al[1] + (al[3] - al[1]) * f_alpha,
          settings_.q2q3[0],
          settings_.q2q3[1]};
}

LossParams make_loss_params(const GrEpochValues& gr, double expected_positives, double em_alpha, int64_t num_classes) {
  LossParams p;
  p.w = gr.w;
  p.b = gr.b;
  p.mu = gr.mu;
  p.sigma = gr.sigma;
  p.q2 = gr.q2;
  p.q3 = gr.q3;
  p.expected_positives = expected_positives;
  p.em_alpha = em_alpha;
  p.num_classes = double(num_classes);
  return p;
}

}  // namespace spml::losses
