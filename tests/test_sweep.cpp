// spml-sweep (training/sweep.h): --grid parsing, cell expansion and names (a vector key, the errors), the cells'
// configurations (defaults following the cell's data set and loss), the selection rule and the reports from given
// results, and real sweeps on a generated toy-shapes set: a 2 x 2 grid that must choose the cell with the best
// best_val_mAP of its test.json files and reuse every cell when run again, cells that fail (validation, a bad data
// path) while the others finish, and cells interrupted (by the sweep's stop request, and by a run stopped on its own)
// that the next sweep resumes to the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/data/builders/toy_shapes.h"
#include "framework/io/file.h"
#include "training/sweep.h"
#include "training/trainer.h"

namespace spml::training {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/spml_sweep_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

// One toy-shapes folder per process: 120 rows -> 96 train / 24 val, 40 test canvases of 16 px.
const std::string& toy_data() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("toy_data");
    data::build_toy_shapes(d, 120, 40, 16, 5);
    return d;
  }();
  return dir;
}

json read_json(const std::string& path) {
  return json::parse(io::read_text_file(path));
}

// spml-sweep --dataset toy-shapes --data <toy> --width 8 --image-size 16 --epochs E --threads 1 --grid ... --out OUT
SweepOptions toy_sweep(const std::string& out, const std::vector<std::string>& grid, int epochs,
                       std::vector<std::string>* log = nullptr) {
  SweepOptions o;
  o.flags.dataset = "toy-shapes";
  o.flags.data = toy_data();
  o.flags.width = 8;
  o.flags.image_size = 16;
  o.flags.epochs = epochs;
  o.flags.threads = 1;
  o.flags.out = out;
  o.given = {"dataset", "data", "width", "image_size", "epochs", "threads", "out"};
  for (const std::string& g : grid) o.grid.push_back(parse_grid_argument(g));
  o.out = out;
  o.command_line = "spml-sweep (test_sweep)";
  o.callbacks.progress_on_tty = false;
  o.callbacks.log = [log](const std::string& line) {
    if (log) log->push_back(line);
  };
  return o;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << parts.front() << "\"";
  } catch (const std::exception& e) {
    for (const std::string& part : parts)
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message: " << e.what() << "\nmissing: " << part;
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SweepGridTest, ParsesValuesLabelsAndCellNames) {
  const GridAxis lr = parse_grid_argument("lr=1e-4,3e-4");
  EXPECT_EQ(lr.key, "lr");
  EXPECT_EQ(lr.values, (std::vector<std::string>{"0.0001", "0.0003"}));
  EXPECT_EQ(lr.labels, (std::vector<std::string>{"0.0001", "0.0003"}));
  const GridAxis batch = parse_grid_argument("batch_size=16, 32");
  EXPECT_EQ(batch.values, (std::vector<std::string>{"16", "32"}));
  const GridAxis loss = parse_grid_argument("loss=gr,an");
  EXPECT_EQ(loss.values, (std::vector<std::string>{"\"gr\"", "\"an\""}));
  EXPECT_EQ(loss.labels, (std::vector<std::string>{"gr", "an"}));
  const GridAxis beta = parse_grid_argument("beta=0 2 -2 -2;0 10 -2 -8");
  EXPECT_EQ(beta.values, (std::vector<std::string>{"[0,2,-2,-2]", "[0,10,-2,-8]"}));
  EXPECT_EQ(beta.labels, (std::vector<std::string>{"0 2 -2 -2", "0 10 -2 -8"}));
  EXPECT_EQ(parse_grid_argument("q2q3=0.01,1;0.02 1.5").values, (std::vector<std::string>{"[0.01,1]", "[0.02,1.5]"}));
  EXPECT_EQ(parse_grid_argument("no_flip=true,false").labels, (std::vector<std::string>{"true", "false"}));
  EXPECT_EQ(parse_grid_argument("lr=.5").values, (std::vector<std::string>{"0.5"}));
  // A string key takes the text as written, numbers included.
  EXPECT_EQ(parse_grid_argument("images=2017,a b").values, (std::vector<std::string>{"\"2017\"", "\"a b\""}));

  const std::vector<GridCell> cells = expand_grid({lr, batch});
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[0].name, "lr=0.0001_batch_size=16");
  EXPECT_EQ(cells[1].name, "lr=0.0001_batch_size=32");
  EXPECT_EQ(cells[2].name, "lr=0.0003_batch_size=16");
  EXPECT_EQ(cells[3].name, "lr=0.0003_batch_size=32");
  EXPECT_EQ(cells[2].index, (std::vector<std::size_t>{1, 0}));
  EXPECT_EQ(json::parse(cells[1].values_json), json({{"lr", 0.0001}, {"batch_size", 32}}));

  const std::vector<GridCell> vector_cells = expand_grid({beta, loss});
  ASSERT_EQ(vector_cells.size(), 4u);
  EXPECT_EQ(vector_cells[0].name, "beta=0_2_-2_-2_loss=gr");
  EXPECT_EQ(vector_cells[3].name, "beta=0_10_-2_-8_loss=an");
  EXPECT_EQ(json::parse(vector_cells[3].values_json), json({{"beta", {0, 10, -2, -8}}, {"loss", "an"}}));

  EXPECT_EQ(filesystem_safe("a/b c:d=1.5-x_y"), "a_b_c_d=1.5-x_y");
  EXPECT_EQ(expand_grid({parse_grid_argument("data=/tmp/a b")})[0].name, "data=_tmp_a_b");
}

TEST(SweepGridTest, ErrorsNameTheArgument) {
  expect_error([] { parse_grid_argument("lr"); }, {"--grid lr:", "KEY=V1,V2"});
  expect_error([] { parse_grid_argument("learning_rate=1e-3"); },
               {"--grid learning_rate=1e-3", "unknown key \"learning_rate\""});
  expect_error([] { parse_grid_argument("batch_size=8,1.5"); },
               {"--grid batch_size=8,1.5", "\"batch_size\" has the wrong type (1.5)"});
  expect_error([] { parse_grid_argument("lr=1e-3,fast"); }, {"--grid lr=1e-3,fast", "wrong type (\"fast\")"});
  expect_error([] { parse_grid_argument("epochs=1e12"); }, {"--grid epochs=1e12", "epochs"});
  expect_error([] { parse_grid_argument("lr=1e-3,,3e-3"); }, {"--grid lr=1e-3,,3e-3", "value 2 is empty"});
  expect_error([] { parse_grid_argument("lr=1e-3,0.001"); }, {"--grid lr=1e-3,0.001", "given twice"});
  expect_error([] { parse_grid_argument("beta=0 2 -2"); }, {"--grid beta=0 2 -2", "3 components but beta takes 4"});
  expect_error([] { parse_grid_argument("beta=0 2 x -2"); }, {"--grid beta=0 2 x -2", "component 'x' is not a number"});
  expect_error([] { parse_grid_argument("out=a,b"); }, {"--grid out=a,b", "cannot be swept"});
  expect_error([] { parse_grid_argument("cpu_kernels=onednn,reference"); }, {"set once", "--cpu-kernels"});
  expect_error(
      [] {
        expand_grid({parse_grid_argument("lr=1e-3"), parse_grid_argument("lr=3e-3")});
      },
      {"--grid lr=3e-3", "already swept"});
  expect_error([] { expand_grid({}); }, {"no --grid"});
  expect_error([] { expand_grid({parse_grid_argument("images=a b,a_b")}); }, {"both named images=a_b"});
}

TEST(SweepTest, CellConfigsFollowTheCellsDataSetAndLoss) {
  SweepOptions o;
  o.flags.dataset = "voc";
  o.flags.data = "/data/voc";
  o.flags.lr = 1e-4;
  o.given = {"dataset", "data", "lr"};
  o.out = "/tmp/sweep";
  o.device = "cpu";
  o.grid = {parse_grid_argument("loss=gr,em_apl"), parse_grid_argument("beta=0 2 -2 -2;0 10 -2 -8")};
  const std::vector<GridCell> cells = expand_grid(o.grid);
  const TrainConfig gr = cell_train_config(o, cells[0]);
  EXPECT_EQ(gr.loss, "gr");
  EXPECT_EQ(gr.out, "/tmp/sweep/loss=gr_beta=0_2_-2_-2");
  EXPECT_EQ(gr.lr, 1e-4);  // given: over every default
  EXPECT_EQ(gr.lr_mult, 10);
  EXPECT_EQ(gr.epochs, default_train_config("voc", "gr").epochs);
  EXPECT_EQ(gr.beta, (std::vector<double>{0, 2, -2, -2}));
  const TrainConfig apl = cell_train_config(o, cells[3]);
  EXPECT_EQ(apl.loss, "em_apl");
  EXPECT_EQ(apl.lr, 1e-4);
  EXPECT_EQ(apl.lr_mult, 1);  // EM+APL's own row on VOC
  EXPECT_EQ(apl.apl_warmup, 5);
  EXPECT_EQ(apl.epochs, 10);
  EXPECT_EQ(apl.beta, (std::vector<double>{0, 10, -2, -8}));
  EXPECT_EQ(apl.device, "cpu");

  // The data set's defaults (and its default data folder) follow the cell.
  SweepOptions d;
  d.out = "sweeps/ds";
  d.grid = {parse_grid_argument("dataset=toy-shapes,fashion-mosaic")};
  const std::vector<GridCell> ds = expand_grid(d.grid);
  const TrainConfig toy = cell_train_config(d, ds[0]), fm = cell_train_config(d, ds[1]);
  EXPECT_EQ(toy.data, "data/toy-shapes");
  EXPECT_EQ(toy.image_size, default_train_config("toy-shapes").image_size);
  EXPECT_EQ(fm.data, "data/fashion-mosaic");
  EXPECT_EQ(fm.image_size, default_train_config("fashion-mosaic").image_size);
  EXPECT_EQ(fm.out, (fs::path("sweeps/ds") / "dataset=fashion-mosaic").string());
}

// Results as a sweep would hold them, for the selection rule and the reports.
CellResult result_cell(const GridCell& cell, CellStatus status, double val, double test) {
  CellResult c;
  c.cell = cell;
  c.dir = "/s/" + cell.name;
  c.status = status;
  c.best_val_map = val;
  c.test_map = test;
  c.best_epoch = status == CellStatus::finished ? 2 : 0;
  c.epochs_run = status == CellStatus::pending ? 0 : 2;
  c.seconds = 12;
  return c;
}

TEST(SweepReportTest, SelectionAndReportsFromResults) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  SweepOptions o;
  o.out = "/s";
  o.command_line = "spml-sweep --grid lr=1e-3,3e-3 --grid batch_size=8,16 --out /s";
  o.grid = {parse_grid_argument("lr=1e-3,3e-3"), parse_grid_argument("batch_size=8,16")};
  const std::vector<GridCell> cells = expand_grid(o.grid);
  SweepResult r;
  r.cells = {result_cell(cells[0], CellStatus::finished, 50, 45), result_cell(cells[1], CellStatus::finished, 60, 55),
             result_cell(cells[2], CellStatus::failed, 70, kNaN),
             result_cell(cells[3], CellStatus::pending, kNaN, kNaN)};
  r.cells[2].error = "boom | bad";
  r.chosen = choose_cell(r.cells);
  EXPECT_EQ(r.chosen, 1);  // the failed cell's partial 70 does not count
  EXPECT_EQ(r.finished(), 2);
  EXPECT_EQ(r.failed(), 1);

  const std::string md = sweep_report_markdown(o, r);
  EXPECT_TRUE(contains(md, "| 0.001 | 50.00 (45.00) | **60.00 (55.00)** |")) << md;
  EXPECT_TRUE(contains(md, "| 0.003 | failed: boom \\| bad | pending |")) << md;
  EXPECT_TRUE(contains(md, "**Chosen: lr=0.001_batch_size=16**: best val mAP 60.00 at epoch 2; **test mAP 55.00**"))
      << md;
  EXPECT_TRUE(contains(md, "| **lr=0.001_batch_size=16** | 0.001 | 16 | finished | **60.00** |")) << md;
  EXPECT_TRUE(contains(md, "Command: `" + o.command_line + "`")) << md;
  const std::string svg = sweep_report_svg(o, r);
  EXPECT_TRUE(contains(svg, "<svg")) << svg;
  EXPECT_TRUE(contains(svg, "class=\"outline\"")) << svg;
  EXPECT_TRUE(contains(svg, "60.00 (55.00)")) << svg;
  EXPECT_TRUE(contains(svg, ">failed<")) << svg;
  EXPECT_TRUE(contains(svg, "chosen (outlined): lr=0.001_batch_size=16")) << svg;

  const json doc = json::parse(sweep_json(o, r));
  EXPECT_EQ(doc["chosen"]["name"], "lr=0.001_batch_size=16");
  EXPECT_EQ(doc["chosen"]["test_mAP"], 55.0);
  EXPECT_EQ(doc["cells"][2]["status"], "failed");
  EXPECT_EQ(doc["cells"][2]["error"], "boom | bad");
  EXPECT_TRUE(doc["cells"][3]["best_val_mAP"].is_null());
  EXPECT_EQ(doc["cells"][0]["values"], json({{"lr", 0.001}, {"batch_size", 8}}));
  EXPECT_EQ(doc["grid"][1], json({{"key", "batch_size"}, {"values", {8, 16}}}));
  const json line = json::parse(sweep_summary_line(o, r));
  EXPECT_EQ(line, json({{"sweep", "/s"},
                        {"cells", 4},
                        {"finished", 2},
                        {"failed", 1},
                        {"chosen", "lr=0.001_batch_size=16"},
                        {"best_val_mAP", 60.0},
                        {"test_mAP", 55.0}}));

  // Ties: the first in grid order. One key: a row per cell and bars.
  SweepOptions one;
  one.out = "/s";
  one.grid = {parse_grid_argument("seed=0,1,2")};
  const std::vector<GridCell> seeds = expand_grid(one.grid);
  SweepResult t;
  t.cells = {result_cell(seeds[0], CellStatus::finished, 40, 30), result_cell(seeds[1], CellStatus::finished, 61, 50),
             result_cell(seeds[2], CellStatus::finished, 61, 52)};
  t.chosen = choose_cell(t.cells);
  EXPECT_EQ(t.chosen, 1);
  const std::string md1 = sweep_report_markdown(one, t);
  EXPECT_TRUE(contains(md1, "| **seed=1** | 1 | finished | **61.00** | 2 | **50.00** | 2 | 12s |")) << md1;
  EXPECT_TRUE(contains(md1, "| seed=2 | 2 | finished | 61.00 | 2 | 52.00 | 2 | 12s |")) << md1;
  EXPECT_FALSE(contains(md1, "## Cells")) << md1;
  const std::string bars = sweep_report_svg(one, t);
  EXPECT_TRUE(contains(bars, "class=\"outline\"")) << bars;
  EXPECT_TRUE(contains(bars, ">seed=2<")) << bars;

  // Nothing finished: no choice.
  SweepResult none;
  none.cells = {result_cell(seeds[0], CellStatus::failed, kNaN, kNaN)};
  EXPECT_EQ(choose_cell(none.cells), -1);
  EXPECT_TRUE(json::parse(sweep_summary_line(one, none))["chosen"].is_null());
  EXPECT_TRUE(contains(sweep_report_markdown(one, none), "**Chosen: none**"));
}

TEST(SweepTest, RealGridChoosesTheBestValCellAndReusesEveryCellOnRerun) {
  const std::string out = fresh_dir("grid");
  const SweepOptions options = toy_sweep(out, {"lr=1e-3,3e-3", "batch_size=8,16"}, 2);
  const SweepResult result = run_sweep(options);
  ASSERT_EQ(result.cells.size(), 4u);
  EXPECT_EQ(result.finished(), 4);
  EXPECT_FALSE(result.interrupted);
  int best = -1;
  double best_val = 0;
  std::vector<fs::file_time_type> mtimes;
  for (std::size_t i = 0; i < 4; ++i) {
    const CellResult& c = result.cells[i];
    EXPECT_EQ(c.status, CellStatus::finished) << c.cell.name << ": " << c.error;
    EXPECT_FALSE(c.reused);
    EXPECT_EQ(c.dir, (fs::path(out) / c.cell.name).string());
    const std::string test_path = (fs::path(c.dir) / "test.json").string();
    ASSERT_TRUE(fs::exists(test_path)) << test_path;
    mtimes.push_back(fs::last_write_time(test_path));
    const json test = read_json(test_path);
    EXPECT_EQ(c.best_val_map, test["best_val_mAP"].get<double>());
    EXPECT_EQ(c.test_map, test["test_mAP"].get<double>());
    EXPECT_EQ(c.best_epoch, test["best_epoch"].get<int>());
    if (best < 0 || test["best_val_mAP"].get<double>() > best_val) {
      best = int(i);
      best_val = test["best_val_mAP"].get<double>();
    }
    // The cell ran its own values.
    const json config = read_json((fs::path(c.dir) / "config.json").string());
    EXPECT_EQ(config["lr"], json::parse(c.cell.values_json)["lr"]);
    EXPECT_EQ(config["batch_size"], json::parse(c.cell.values_json)["batch_size"]);
    EXPECT_EQ(config["epochs"], 2);
  }
  EXPECT_EQ(result.cells[0].cell.name, "lr=0.001_batch_size=8");
  ASSERT_EQ(result.chosen, best);
  const CellResult& chosen = result.cells[std::size_t(best)];

  const json doc = read_json(out + "/sweep.json");
  EXPECT_EQ(doc["chosen"]["name"], chosen.cell.name);
  EXPECT_EQ(doc["chosen"]["test_mAP"].get<double>(), chosen.test_map);
  EXPECT_EQ(doc["finished"], 4);
  for (const json& c : doc["cells"]) EXPECT_EQ(c["status"], "finished");
  const std::string md = io::read_text_file(out + "/report.md");
  EXPECT_TRUE(contains(md, "**Chosen: " + chosen.cell.name + "**")) << md;
  EXPECT_TRUE(contains(md, "| lr ↓ batch_size → | 8 | 16 |")) << md;
  const std::string svg = io::read_text_file(out + "/report.svg");
  EXPECT_TRUE(contains(svg, "chosen (outlined): " + chosen.cell.name)) << svg;
  EXPECT_EQ(json::parse(sweep_summary_line(options, result))["chosen"], chosen.cell.name);

  // The same sweep again: every cell reused, nothing retrained.
  std::vector<std::string> log;
  const SweepResult again = run_sweep(toy_sweep(out, {"lr=1e-3,3e-3", "batch_size=8,16"}, 2, &log));
  EXPECT_EQ(again.finished(), 4);
  EXPECT_EQ(again.chosen, result.chosen);
  int reused_lines = 0;
  for (const std::string& line : log) reused_lines += contains(line, ": reused (");
  EXPECT_EQ(reused_lines, 4);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(again.cells[i].reused);
    EXPECT_EQ(again.cells[i].best_val_map, result.cells[i].best_val_map);
    EXPECT_EQ(again.cells[i].test_map, result.cells[i].test_map);
    EXPECT_EQ(again.cells[i].epochs_run, 2);
    EXPECT_EQ(fs::last_write_time(fs::path(again.cells[i].dir) / "test.json"), mtimes[i]);
  }
  EXPECT_TRUE(read_json(out + "/sweep.json")["cells"][0]["reused"].get<bool>());

  // Different settings never reuse a finished cell: each fails naming the difference.
  SweepOptions changed = toy_sweep(out, {"lr=1e-3,3e-3", "batch_size=8,16"}, 2);
  changed.flags.seed = 3;
  changed.given.push_back("seed");
  const SweepResult refused = run_sweep(changed);
  EXPECT_EQ(refused.finished(), 0);
  EXPECT_EQ(refused.chosen, -1);
  EXPECT_TRUE(contains(refused.cells[0].error, "differs from this sweep's settings in --seed"))
      << refused.cells[0].error;
  EXPECT_EQ(fs::last_write_time(fs::path(refused.cells[0].dir) / "test.json"), mtimes[0]);
}

TEST(SweepTest, FailingCellsAreRecordedWhileTheOthersFinish) {
  const std::string out = fresh_dir("failing");
  // A data path under a regular file cannot be generated into.
  const std::string blocker = out + "-blocker";
  io::write_file_atomic(blocker, std::string("not a folder"));
  const std::string bad_data = blocker + "/toy";
  const SweepResult result = run_sweep(toy_sweep(out, {"data=" + toy_data() + "," + bad_data, "image_size=16,8"}, 1));
  ASSERT_EQ(result.cells.size(), 4u);
  EXPECT_EQ(result.cells[0].status, CellStatus::finished) << result.cells[0].error;
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_EQ(result.cells[i].status, CellStatus::failed) << result.cells[i].cell.name;
  EXPECT_TRUE(contains(result.cells[1].error, "--image-size must be in [16, 4096], got 8")) << result.cells[1].error;
  EXPECT_TRUE(contains(result.cells[2].error, bad_data)) << result.cells[2].error;
  EXPECT_EQ(result.finished(), 1);
  EXPECT_EQ(result.failed(), 3);
  EXPECT_EQ(result.chosen, 0);
  const json doc = read_json(out + "/sweep.json");
  EXPECT_EQ(doc["cells"][1]["status"], "failed");
  EXPECT_EQ(doc["cells"][1]["error"], result.cells[1].error);
  EXPECT_EQ(doc["chosen"]["name"], result.cells[0].cell.name);
  const std::string md = io::read_text_file(out + "/report.md");
  EXPECT_TRUE(contains(md, "failed: --image-size must be in [16, 4096], got 8")) << md;
  fs::remove(blocker);

  // No cell finishes: no choice (spml-sweep exits 1).
  const SweepResult none = run_sweep(toy_sweep(fresh_dir("none"), {"image_size=8,10"}, 1));
  EXPECT_EQ(none.finished(), 0);
  EXPECT_EQ(none.chosen, -1);
}

TEST(SweepTest, InterruptedCellsAreResumedToTheEnd) {
  const std::string out = fresh_dir("interrupted");
  // The sweep stopped (as by Ctrl-C) after the first cell's second step.
  SweepOptions stopping = toy_sweep(out, {"lr=1e-3,3e-3"}, 1);
  int steps = 0;
  stopping.callbacks.on_step = [&](int, int64_t, double) { ++steps; };
  stopping.callbacks.stop_requested = [&] { return steps >= 2; };
  const SweepResult stopped = run_sweep(stopping);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.cells[0].status, CellStatus::interrupted) << stopped.cells[0].error;
  EXPECT_EQ(stopped.cells[1].status, CellStatus::pending);
  EXPECT_EQ(stopped.finished(), 0);
  const json doc = read_json(out + "/sweep.json");
  EXPECT_TRUE(doc["interrupted"].get<bool>());
  EXPECT_EQ(doc["cells"][0]["status"], "interrupted");
  EXPECT_EQ(doc["cells"][1]["status"], "pending");
  EXPECT_TRUE(contains(io::read_text_file(out + "/report.md"), "interrupted"));
  EXPECT_TRUE(json::parse(sweep_summary_line(stopping, stopped))["interrupted"].get<bool>());

  // The second cell's own run, stopped after 2 steps in its folder.
  const SweepOptions options = toy_sweep(out, {"lr=1e-3,3e-3"}, 1);
  const std::vector<GridCell> cells = expand_grid(options.grid);
  const TrainConfig second = cell_train_config(options, cells[1]);
  TrainCallbacks cb;
  cb.log = [](const std::string&) {};
  cb.progress_on_tty = false;
  int own_steps = 0;
  cb.on_step = [&](int, int64_t, double) { ++own_steps; };
  cb.stop_requested = [&] { return own_steps >= 2; };
  ASSERT_TRUE(run_training(second, false, cb).interrupted);
  ASSERT_TRUE(fs::exists(fs::path(second.out) / "config.json"));
  ASSERT_FALSE(fs::exists(fs::path(second.out) / "test.json"));

  // The sweep again: both resumed and finished.
  const SweepResult resumed = run_sweep(options);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.finished(), 2);
  for (const CellResult& c : resumed.cells) {
    EXPECT_EQ(c.status, CellStatus::finished) << c.cell.name << ": " << c.error;
    EXPECT_TRUE(c.resumed) << c.cell.name;
    EXPECT_FALSE(c.reused) << c.cell.name;
    EXPECT_EQ(c.epochs_run, 1);
    EXPECT_TRUE(fs::exists(fs::path(c.dir) / "test.json"));
  }
  EXPECT_GE(resumed.chosen, 0);
  EXPECT_TRUE(read_json(out + "/sweep.json")["cells"][1]["resumed"].get<bool>());
}

}  // namespace
}  // namespace spml::training
