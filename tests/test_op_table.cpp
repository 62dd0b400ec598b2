// The op table's suites: every row through the finite-difference gradient check on the CPU (OpTableGradcheck,
// float64, plus float32 where a row asks) and through CUDA-vs-CPU parity, forward and backward, in float32 and
// float64 (OpTableCudaParity, skipped without a GPU). Instances are named after the row and dtype. OpTable.*
// checks the table itself: every listed op has a row, every op the headers declare is listed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "losses/spml_loss.h"
#include "op_table.h"
#include "test_util.h"

namespace spml::test {
namespace {

struct OpCase {
  const OpRow* row;
  DType dtype;
};

// Readable parameters in failure messages and CTest listings (gtest would print the bytes).
void PrintTo(const OpCase& c, std::ostream* os) {
  *os << c.row->name << " " << dtype_name(c.dtype);
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return info.param.row->name + "_" + dtype_name(info.param.dtype);
}

bool supports(const OpRow& row, DType dtype) {
  return std::find(row.dtypes.begin(), row.dtypes.end(), dtype) != row.dtypes.end();
}

std::vector<OpCase> gradcheck_cases() {
  std::vector<OpCase> cases;
  for (const OpRow& row : op_table()) {
    if (row.has(kNoGradcheck)) continue;
    cases.push_back({&row, DType::Float64});
    if (row.has(kGradcheckFloat32) && supports(row, DType::Float32)) cases.push_back({&row, DType::Float32});
  }
  return cases;
}

std::vector<OpCase> parity_cases() {
  std::vector<OpCase> cases;
  for (const OpRow& row : op_table())
    for (DType dtype : row.dtypes) cases.push_back({&row, dtype});
  return cases;
}

class OpTableGradcheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTableGradcheck, MatchesFiniteDifferences) {
  const OpRow& row = *GetParam().row;
  const Inputs all = make_inputs(row, GetParam().dtype, /*parity=*/false);
  // gradcheck takes floating inputs only: integer ones (indices) are bound into the function.
  Inputs floating;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!is_floating(all[i].dtype())) continue;
    floating.push_back(all[i]);
    where.push_back(i);
  }
  const OpFn f = [&](const Inputs& v) {
    Inputs full = all;
    for (std::size_t k = 0; k < v.size(); ++k) full[where[k]] = v[k];
    return row.fn(full);
  };
  expect_gradcheck(f, floating, row.gradcheck);
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTableGradcheck, ::testing::ValuesIn(gradcheck_cases()), case_name);

class OpTableCudaParity : public ::testing::TestWithParam<OpCase> {
 protected:
  void SetUp() override { SPML_SKIP_WITHOUT_CUDA(); }
};

TEST_P(OpTableCudaParity, MatchesTheCpu) {
  const OpRow& row = *GetParam().row;
  expect_parity(row.fn, make_inputs(row, GetParam().dtype, /*parity=*/true), row.parity_scale,
                row.has(kCudaForwardOnly));
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTableCudaParity, ::testing::ValuesIn(parity_cases()), case_name);

std::string base_name(const std::string& op) {
  return op.substr(0, op.find(':'));
}

TEST(OpTable, EveryOpHasARow) {
  const std::vector<std::string>& names = op_names();
  const std::set<std::string> listed(names.begin(), names.end());
  EXPECT_EQ(listed.size(), names.size()) << "an op is listed twice";
  std::set<std::string> covered;
  for (const OpRow& row : op_table()) {
    EXPECT_TRUE(listed.count(row.op)) << "row " << row.name << " covers '" << row.op << "', which op_names() lacks";
    covered.insert(row.op);
  }
  for (const std::string& op : names) EXPECT_TRUE(covered.count(op)) << "no row in op_table() covers '" << op << "'";
}

TEST(OpTable, EveryLossIsListed) {
  const std::vector<std::string>& names = op_names();
  for (const std::string& loss : losses::loss_names())
    EXPECT_NE(std::find(names.begin(), names.end(), "spml_loss:" + loss), names.end()) << loss;
}

// A function added to an op header without a row (or an entry in non_op_functions()) fails here.
TEST(OpTable, EveryDeclaredOpIsListed) {
  std::set<std::string> known(non_op_functions().begin(), non_op_functions().end());
  for (const std::string& op : op_names()) known.insert(base_name(op));
  const std::regex declaration(R"(^Tensor ([A-Za-z_][A-Za-z0-9_]*)\()");
  for (const char* header : {"framework/ops/ops.h", "framework/ops/cnn.h", "losses/spml_loss.h"}) {
    const std::string path = std::string(SPML_TEST_DATA_DIR) + "/../../" + header;
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    int declared = 0;
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, declaration)) continue;
      ++declared;
      EXPECT_TRUE(known.count(m[1].str()))
          << header << " declares " << m[1].str() << ", which neither op_names() nor non_op_functions() lists";
    }
    EXPECT_GT(declared, 0) << path;
  }
}

TEST(OpTable, RowsAreWellFormed) {
  const std::regex identifier("[A-Za-z0-9_]+");
  std::set<std::string> names;
  for (const OpRow& row : op_table()) {
    EXPECT_TRUE(std::regex_match(row.name, identifier)) << "'" << row.name << "'";
    EXPECT_TRUE(names.insert(row.name).second) << row.name << " twice";
    EXPECT_FALSE(row.dtypes.empty()) << row.name;
    for (DType d : row.dtypes) EXPECT_TRUE(d == DType::Float32 || d == DType::Float64) << row.name;
    EXPECT_GT(row.parity_scale, 0) << row.name;
    EXPECT_TRUE(std::any_of(row.inputs.begin(), row.inputs.end(), [](const InputSpec& s) { return s.requires_grad; }))
        << row.name << ": no input requires grad";
    if (row.has(kNoGradcheck) || row.has(kKink) || row.has(kCudaForwardOnly)) {
      EXPECT_FALSE(row.note.empty()) << row.name << ": a flag without a note saying why";
    }
  }
}

// The parity-sized inputs work with the op (shapes, indices in range), forward and backward: checked on the CPU
// so that a machine without a GPU finds a broken parity row before a GPU run does.
TEST(OpTable, ParityInputsRunOnTheCpu) {
  for (const OpCase& c : parity_cases()) {
    const Inputs inputs = make_inputs(*c.row, c.dtype, /*parity=*/true);
    const Tensor out = c.row->fn(inputs);
    ASSERT_TRUE(out.requires_grad()) << c.row->name;
    Tensor r = Tensor::empty(out.shape(), out.dtype());
    r.uniform_(-1, 1, 7);
    out.backward(r);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].requires_grad()) continue;
      ASSERT_TRUE(inputs[i].grad().defined()) << c.row->name << " input " << i;
      const std::vector<double> g = inputs[i].grad().to(DType::Float64).to_vector<double>();
      EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](double v) { return std::isfinite(v); }))
          << c.row->name << " " << dtype_name(c.dtype) << " input " << i;
    }
  }
}

}  // namespace
}  // namespace spml::test
