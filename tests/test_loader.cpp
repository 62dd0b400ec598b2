// DataLoader tests: determinism across worker counts, epoch coverage, drop_last, label/index consistency, flips and
// normalisation against framework/image, error and skip paths, clean shutdown (with a hang guard), CUDA batches.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "framework/core/runtime.h"
#include "framework/data/loader.h"
#include "framework/image/image.h"
#include "framework/io/file.h"
#include "test_util.h"

namespace spml::data {
namespace {

namespace fs = std::filesystem;

const char* kFixtures[] = {"rgb_37x29.png", "photo_64x48_q90.jpg", "grey_19x13.png", "palette_21x17.png"};
constexpr int64_t kClasses = 5;

// Runs fn on a thread; aborts the test binary loudly when it does not finish in time (a hung join cannot be undone).
template <class F>
void run_with_timeout(F fn, double seconds, const char* what) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    fn();
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!done) {
    std::fprintf(stderr, "FATAL: %s did not finish within %.0f s (hang)\n", what, seconds);
    std::fflush(stderr);
    std::_Exit(1);
  }
  t.join();
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "spml_loader_" + std::to_string(::getpid()) + "_" + info->name();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/sub");
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::string fixture(const std::string& name) { return std::string(SPML_TEST_DATA_DIR) + "/images/" + name; }

  // n samples cycling through the fixtures (copied under distinct names); labels[i][c] = (i + c) % 3 == 0 and one
  // observed positive at column i % C.
  MultiLabelSplit make_split(int64_t n) {
    MultiLabelSplit split;
    std::vector<float> labels(std::size_t(n * kClasses)), observed(std::size_t(n * kClasses), 0.f);
    for (int64_t i = 0; i < n; ++i) {
      const std::string src = kFixtures[i % 4];
      const std::string rel = "sub/img" + std::to_string(i) + src.substr(src.find('.'));
      fs::copy_file(fixture(src), root_ + "/" + rel, fs::copy_options::overwrite_existing);
      split.image_paths.push_back(rel);
      split.source_rows.push_back(i);
      for (int64_t c = 0; c < kClasses; ++c) labels[std::size_t(i * kClasses + c)] = (i + c) % 3 == 0 ? 1.f : 0.f;
      observed[std::size_t(i * kClasses + i % kClasses)] = 1.f;
    }
    split.labels = Tensor::from_vector(labels, {n, kClasses});
    split.observed = Tensor::from_vector(observed, {n, kClasses});
    return split;
  }

  static LoaderOptions options(int workers, uint64_t seed = 7) {
    LoaderOptions o;
    o.batch_size = 3;
    o.image_size = 16;
    o.shuffle = true;
    o.flip = true;
    o.seed = seed;
    o.workers = workers;
    o.prefetch = 2;
    return o;
  }

  static std::vector<Batch> epoch(DataLoader& loader, int e) {
    loader.start_epoch(e);
    std::vector<Batch> out;
    Batch b;
    while (loader.next(b)) out.push_back(b);
    return out;
  }

  // The image the loader should produce for dataset index `index`, through framework/image directly.
  Tensor expected_image(const MultiLabelSplit& split, int64_t index, bool flip, int size) {
    image::Image img = image::decode_image(root_ + "/" + split.image_paths[std::size_t(index)]);
    img = image::resize_bilinear(img, size, size);
    if (flip) image::flip_horizontal(img);
    return image::images_to_tensor({img});
  }

  std::string root_;
};

std::vector<int64_t> indices_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches)
    for (int64_t v : b.indices.to_vector<int64_t>()) all.push_back(v);
  return all;
}

TEST_F(LoaderTest, DeterministicAcrossWorkerCounts) {
  const MultiLabelSplit split = make_split(11);
  DataLoader one(split, root_, options(1)), three(split, root_, options(3));
  EXPECT_EQ(three.workers(), 3);
  for (int e = 0; e < 2; ++e) {
    const std::vector<Batch> a = epoch(one, e), b = epoch(three, e);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].batch_index, int64_t(k));
      EXPECT_EQ(a[k].indices.to_vector<int64_t>(), b[k].indices.to_vector<int64_t>());
      EXPECT_EQ(a[k].paths, b[k].paths);
      EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>());
      EXPECT_EQ(a[k].labels.to_vector<float>(), b[k].labels.to_vector<float>());
    }
  }
  // Epochs differ from each other, and another seed gives another order.
  DataLoader other(split, root_, options(2, 8));
  EXPECT_NE(indices_of(epoch(one, 0)), indices_of(epoch(other, 0)));
  EXPECT_NE(indices_of(epoch(one, 0)), indices_of(epoch(one, 1)));
  // Same seed in a fresh loader: the same order again.
  DataLoader again(split, root_, options(2));
  EXPECT_EQ(indices_of(epoch(one, 1)), indices_of(epoch(again, 1)));
}

TEST_F(LoaderTest, EverySampleOncePerEpochLastPartialBatchKept) {
  const MultiLabelSplit split = make_split(10);
  DataLoader loader(split, root_, options(2));
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  for (int e = 0; e < 3; ++e) {
    const std::vector<Batch> batches = epoch(loader, e);
    ASSERT_EQ(batches.size(), 4u);
    EXPECT_EQ(batches.back().images.shape(), (Shape{1, 3, 16, 16}));
    EXPECT_EQ(batches[0].images.shape(), (Shape{3, 3, 16, 16}));
    std::vector<int64_t> all = indices_of(batches);
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expect(10);
    for (int i = 0; i < 10; ++i) expect[std::size_t(i)] = i;
    EXPECT_EQ(all, expect);
  }
  Batch b;
  EXPECT_FALSE(loader.next(b));  // the epoch is over
  const LoaderStats s = loader.stats();
  EXPECT_EQ(s.images_decoded, 30);
  EXPECT_EQ(s.batches, 12);
  EXPECT_EQ(s.images_skipped, 0);
  EXPECT_GT(s.decode_seconds, 0.0);
  EXPECT_GE(s.wait_seconds, 0.0);
}

TEST_F(LoaderTest, DropLast) {
  const MultiLabelSplit split = make_split(10);
  LoaderOptions o = options(3);
  o.drop_last = true;
  DataLoader loader(split, root_, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const std::vector<Batch> batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  std::set<int64_t> seen;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.images.size(0), 3);
    for (int64_t v : b.indices.to_vector<int64_t>()) EXPECT_TRUE(seen.insert(v).second);
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST_F(LoaderTest, NoShuffleKeepsDatasetOrder) {
  const MultiLabelSplit split = make_split(7);
  LoaderOptions o = options(2);
  o.shuffle = false;
  DataLoader loader(split, root_, o);
  const std::vector<int64_t> all = indices_of(epoch(loader, 3));
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  Batch b;
  DataLoader fresh(split, root_, o);
  EXPECT_FALSE(fresh.next(b));  // no start_epoch yet
}

TEST_F(LoaderTest, IndicesLabelsAndPathsMatchTheSplit) {
  const MultiLabelSplit split = make_split(9);
  DataLoader loader(split, root_, options(3));
  const std::vector<float> labels = split.labels.to_vector<float>(), observed = split.observed.to_vector<float>();
  for (const Batch& b : epoch(loader, 1)) {
    const std::vector<int64_t> idx = b.indices.to_vector<int64_t>();
    EXPECT_EQ(b.indices.dtype(), DType::Int64);
    EXPECT_TRUE(b.indices.device().is_cpu());
    ASSERT_EQ(b.labels.shape(), (Shape{int64_t(idx.size()), kClasses}));
    ASSERT_EQ(b.observed.shape(), b.labels.shape());
    ASSERT_EQ(b.paths.size(), idx.size());
    const std::vector<float> bl = b.labels.to_vector<float>(), bo = b.observed.to_vector<float>();
    for (std::size_t i = 0; i < idx.size(); ++i) {
      EXPECT_EQ(b.paths[i], split.image_paths[std::size_t(idx[i])]);
      for (int64_t c = 0; c < kClasses; ++c) {
        EXPECT_EQ(bl[i * kClasses + c], labels[std::size_t(idx[i] * kClasses + c)]);
        EXPECT_EQ(bo[i * kClasses + c], observed[std::size_t(idx[i] * kClasses + c)]);
      }
    }
  }
}

TEST_F(LoaderTest, ImagesEqualFrameworkImagePipelineIncludingFlips) {
  const MultiLabelSplit split = make_split(12);
  DataLoader loader(split, root_, options(3, 11));
  int flipped = 0, total = 0;
  for (int e = 0; e < 2; ++e) {
    for (const Batch& b : epoch(loader, e)) {
      const std::vector<int64_t> idx = b.indices.to_vector<int64_t>();
      const std::vector<float> got = b.images.to_vector<float>();
      const std::size_t per = 3 * 16 * 16;
      for (std::size_t i = 0; i < idx.size(); ++i) {
        const bool flip = flip_decision(11, e, idx[i]);
        flipped += flip;
        ++total;
        const std::vector<float> want = expected_image(split, idx[i], flip, 16).to_vector<float>();
        const std::vector<float> row(got.begin() + long(i * per), got.begin() + long((i + 1) * per));
        EXPECT_EQ(row, want) << "index " << idx[i] << " epoch " << e << " flip " << flip;
        // The image is not symmetric, so the unflipped version must differ when a flip happened.
        if (flip) {
          EXPECT_NE(row, expected_image(split, idx[i], false, 16).to_vector<float>());
        }
      }
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, total);
  // Over many indices the flip rate is 1/2.
  int64_t count = 0;
  const int64_t n = 20000;
  for (int64_t i = 0; i < n; ++i) count += flip_decision(3, 1, i);
  EXPECT_NEAR(double(count) / double(n), 0.5, 0.015);
  // No flip without the option.
  LoaderOptions o = options(2, 11);
  o.flip = false;
  DataLoader plain(split, root_, o);
  for (const Batch& b : epoch(plain, 0)) {
    const int64_t i0 = b.indices.to_vector<int64_t>()[0];
    EXPECT_EQ(b.images.slice(0, 1).clone().to_vector<float>(), expected_image(split, i0, false, 16).to_vector<float>());
  }
}

TEST_F(LoaderTest, FlipSeedMovesTheFlipsButNotTheOrder) {
  const MultiLabelSplit split = make_split(12);
  LoaderOptions o = options(2, 11);
  o.flip_seed = 99;
  DataLoader own_flips(split, root_, o), shared(split, root_, options(2, 11));
  const std::vector<Batch> a = epoch(own_flips, 1), b = epoch(shared, 1);
  EXPECT_EQ(indices_of(a), indices_of(b));
  int differing = 0;
  for (const Batch& batch : a) {
    const std::vector<int64_t> idx = batch.indices.to_vector<int64_t>();
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const bool flip = flip_decision(99, 1, idx[i]);
      differing += flip != flip_decision(11, 1, idx[i]);
      EXPECT_EQ(batch.images.slice(int64_t(i), int64_t(i) + 1).clone().to_vector<float>(),
                expected_image(split, idx[i], flip, 16).to_vector<float>());
    }
  }
  EXPECT_GT(differing, 0);
}

TEST_F(LoaderTest, ScheduleFixesOrderAndFlipsAndTheSeededScheduleIsTheSeededLoader) {
  const MultiLabelSplit split = make_split(7);
  auto schedule = std::make_shared<SampleSchedule>();
  schedule->size = 7;
  schedule->orders = {{6, 5, 4, 3, 2, 1, 0}, {0, 2, 4, 6, 1, 3, 5}};
  schedule->flips = {{1, 0, 0, 0, 0, 0, 1}, {0, 1, 1, 0, 0, 0, 0}};
  LoaderOptions o = options(3);
  o.schedule = schedule;
  DataLoader loader(split, root_, o);
  for (int e = 1; e <= 2; ++e) {
    const std::vector<Batch> batches = epoch(loader, e);
    EXPECT_EQ(indices_of(batches), schedule->orders[std::size_t(e - 1)]);
    for (const Batch& batch : batches) {
      const std::vector<int64_t> idx = batch.indices.to_vector<int64_t>();
      for (std::size_t i = 0; i < idx.size(); ++i)
        EXPECT_EQ(batch.images.slice(int64_t(i), int64_t(i) + 1).clone().to_vector<float>(),
                  expected_image(split, idx[i], schedule->flips[std::size_t(e - 1)][std::size_t(idx[i])] != 0, 16)
                      .to_vector<float>())
            << "epoch " << e << " index " << idx[i];
    }
  }
  EXPECT_ERROR_CONTAINS(loader.start_epoch(3), "not covered by the order file's 2 epochs");
  LoaderOptions wrong = options(1);
  wrong.schedule = schedule;
  EXPECT_ERROR_CONTAINS(DataLoader(make_split(6), root_, wrong), "made for 7 rows, the split has 6");

  // What a seeded loader does, written as a schedule, replays to the same batches.
  const std::string path = root_ + "/order.json";
  write_sample_schedule(path, seeded_sample_schedule(7, 2, 7, 7, true, true));
  LoaderOptions replay = options(2);
  replay.schedule = std::make_shared<SampleSchedule>(read_sample_schedule(path));
  DataLoader seeded(split, root_, options(2)), replayed(split, root_, replay);
  for (int e = 1; e <= 2; ++e) {
    const std::vector<Batch> a = epoch(seeded, e), b = epoch(replayed, e);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].indices.to_vector<int64_t>(), b[k].indices.to_vector<int64_t>());
      EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>());
    }
  }
}

TEST_F(LoaderTest, OrderFileErrorsNameTheFileAndTheEntry) {
  const std::string path = root_ + "/bad.json";
  auto write = [&](const std::string& text) { io::write_file_atomic(path, text); };
  write("[1, 2]");
  EXPECT_ERROR_CONTAINS(read_sample_schedule(path), "\"format\": \"spml-order-1\"");
  write(R"({"format": "spml-order-1", "size": 3, "epochs": [{"order": [0, 1, 1], "flip": [0, 0, 0]}]})");
  EXPECT_ERROR_CONTAINS(read_sample_schedule(path), "epoch 1: order is not a permutation of [0, 3) (entry 1");
  write(R"({"format": "spml-order-1", "size": 3, "epochs": [{"order": [0, 1, 2], "flip": [0, 2, 0]}]})");
  EXPECT_ERROR_CONTAINS(read_sample_schedule(path), "flip entry 2 is not 0 or 1");
  write(R"({"format": "spml-order-1", "size": 3, "epochs": [{"order": [0, 1], "flip": [0, 0, 0]}]})");
  EXPECT_ERROR_CONTAINS(read_sample_schedule(path), "epoch 1 has 2 order and 3 flip entries, expected size 3");
  write("{not json");
  EXPECT_ERROR_CONTAINS(read_sample_schedule(path), "not valid JSON");
  write(R"({"format": "spml-order-1", "size": 2, "epochs": [{"order": [1, 0], "flip": [1, 0]}]})");
  const SampleSchedule ok = read_sample_schedule(path);
  EXPECT_ERROR_CONTAINS(check_sample_schedule(ok, 2, 3, "--order-file X"), "--order-file X covers 1 epochs, but 3");
  EXPECT_ERROR_CONTAINS(check_sample_schedule(ok, 5, 1, "--order-file X"), "made for 2 training rows");
}

TEST_F(LoaderTest, ShuffleOrderIsASeededPermutation) {
  const std::vector<int64_t> a = shuffle_order(1000, 5, 2, true);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[std::size_t(i)], i);
  EXPECT_EQ(a, shuffle_order(1000, 5, 2, true));
  EXPECT_NE(a, shuffle_order(1000, 5, 3, true));
  EXPECT_NE(a, shuffle_order(1000, 6, 2, true));
  EXPECT_EQ(shuffle_order(4, 5, 2, false), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(shuffle_order(0, 1, 0, true).empty());
}

TEST_F(LoaderTest, MissingImageThrowsNamingThePath) {
  MultiLabelSplit split = make_split(7);
  split.image_paths[4] = "sub/does_not_exist.jpg";
  LoaderOptions o = options(3);
  o.shuffle = false;
  DataLoader loader(split, root_, o);
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));  // rows 0..2 are fine
  EXPECT_ERROR_CONTAINS(loader.next(b), "does_not_exist.jpg", "dataset index 4");
  EXPECT_ERROR_CONTAINS(loader.next(b), "does_not_exist.jpg");  // stays failed until the next epoch
  // A restart works again (and fails again at the same place).
  loader.start_epoch(1);
  ASSERT_TRUE(loader.next(b));
  EXPECT_ERROR_CONTAINS(loader.next(b), "does_not_exist.jpg");
}

TEST_F(LoaderTest, TruncatedImageThrowsNamingThePath) {
  MultiLabelSplit split = make_split(5);
  fs::copy_file(fixture("truncated.jpg"), root_ + "/sub/cut.jpg");
  split.image_paths[0] = "sub/cut.jpg";
  DataLoader loader(split, root_, options(2));
  loader.start_epoch(0);
  Batch b;
  const std::string message = test::error_message([&] {
    while (loader.next(b)) {
    }
  });
  EXPECT_NE(message.find("cut.jpg"), std::string::npos) << message;
}

TEST_F(LoaderTest, SkipModeDropsAndCountsBadImages) {
  MultiLabelSplit split = make_split(8);
  fs::copy_file(fixture("truncated.jpg"), root_ + "/sub/cut.jpg");
  split.image_paths[1] = "sub/cut.jpg";
  split.image_paths[6] = "sub/missing.png";
  LoaderOptions o = options(3);
  o.skip_bad_images = true;
  DataLoader loader(split, root_, o);
  ::testing::internal::CaptureStderr();
  const std::vector<Batch> batches = epoch(loader, 0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cut.jpg"), std::string::npos) << err;
  EXPECT_NE(err.find("missing.png"), std::string::npos) << err;
  std::vector<int64_t> all = indices_of(batches);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 2, 3, 4, 5, 7}));
  for (const Batch& b : batches) {
    EXPECT_EQ(b.images.size(0), b.indices.size(0));
    EXPECT_EQ(b.labels.size(0), b.indices.size(0));
    for (const std::string& p : b.paths) EXPECT_TRUE(p != "sub/cut.jpg" && p != "sub/missing.png");
    // Compacted rows still hold their own image.
    const std::vector<int64_t> idx = b.indices.to_vector<int64_t>();
    const int64_t last = int64_t(idx.size()) - 1;
    EXPECT_EQ(b.images.slice(last, last + 1).clone().to_vector<float>(),
              expected_image(split, idx.back(), flip_decision(7, 0, idx.back()), 16).to_vector<float>());
  }
  EXPECT_EQ(loader.stats().images_skipped, 2);
  EXPECT_EQ(loader.stats().images_decoded, 6);
}

TEST_F(LoaderTest, SkipModeSkipsABatchWhoseImagesAllFailed) {
  MultiLabelSplit split = make_split(6);
  split.image_paths[3] = split.image_paths[4] = split.image_paths[5] = "sub/gone.png";
  LoaderOptions o = options(2);
  o.shuffle = false;
  o.skip_bad_images = true;
  DataLoader loader(split, root_, o);
  ::testing::internal::CaptureStderr();
  const std::vector<Batch> batches = epoch(loader, 0);
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(loader.stats().images_skipped, 3);
}

TEST_F(LoaderTest, DestructionMidEpochAndAfterErrorDoesNotHang) {
  const MultiLabelSplit good = make_split(24);
  run_with_timeout(
      [&] {
        for (int workers : {1, 3, 8}) {
          LoaderOptions o = options(workers);
          o.prefetch = 1;
          DataLoader loader(good, root_, o);
          loader.start_epoch(0);
          Batch b;
          ASSERT_TRUE(loader.next(b));
        }  // destroyed with workers blocked on the full queue or still decoding
        { DataLoader never_started(good, root_, options(3)); }
        {
          DataLoader started_only(good, root_, options(3));
          started_only.start_epoch(0);
        }
        {  // restart mid-epoch: the new epoch is complete
          DataLoader loader(good, root_, options(3));
          loader.start_epoch(0);
          Batch b;
          ASSERT_TRUE(loader.next(b));
          EXPECT_EQ(indices_of(epoch(loader, 1)).size(), 24u);
        }
        MultiLabelSplit bad = good;
        for (int i = 0; i < 24; i += 2) bad.image_paths[std::size_t(i)] = "sub/nothing_here.jpg";
        DataLoader loader(bad, root_, options(4));
        loader.start_epoch(0);
        Batch b;
        EXPECT_ERROR_CONTAINS(loader.next(b), "nothing_here.jpg");
      },
      60, "loader shutdown");
}

TEST_F(LoaderTest, InvalidOptionsAndClassCount) {
  const MultiLabelSplit split = make_split(3);
  LoaderOptions o = options(1);
  o.batch_size = 0;
  EXPECT_ERROR_CONTAINS(DataLoader(split, root_, o), "batch_size");
  o = options(1);
  o.prefetch = 0;
  EXPECT_ERROR_CONTAINS(DataLoader(split, root_, o), "prefetch");
  MultiLabelSplit wrong = split;
  wrong.image_paths.pop_back();
  EXPECT_ERROR_CONTAINS(DataLoader(wrong, root_, options(1)), "labels", "[3, 5]", "2 image paths");

  MultiLabelDataset ds;
  ds.name = "voc";
  ds.labels_columns = 20;
  EXPECT_NO_THROW(check_num_classes(ds, 20));
  EXPECT_ERROR_CONTAINS(check_num_classes(ds, 80), "20", "80", "voc");
}

TEST_F(LoaderTest, DefaultWorkersFollowThreadPolicy) {
  const MultiLabelSplit split = make_split(3);
  DataLoader loader(split, root_, options(0));
  EXPECT_EQ(loader.workers(), std::max(1, num_threads()));
}

TEST_F(LoaderTest, CudaBatchesEqualCpuBatches) {
  SPML_SKIP_WITHOUT_CUDA();
  MultiLabelSplit split = make_split(10);
  LoaderOptions o = options(3);
  DataLoader cpu(split, root_, o);
  o.device = Device::cuda();
  DataLoader gpu(split, root_, o);
  for (int e = 0; e < 3; ++e) {  // several epochs: pinned slots are reused
    const std::vector<Batch> a = epoch(cpu, e), b = epoch(gpu, e);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_TRUE(b[k].images.device().is_cuda());
      EXPECT_TRUE(b[k].labels.device().is_cuda());
      EXPECT_TRUE(b[k].indices.device().is_cpu());
      EXPECT_EQ(a[k].indices.to_vector<int64_t>(), b[k].indices.to_vector<int64_t>());
      EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>());
      EXPECT_EQ(a[k].labels.to_vector<float>(), b[k].labels.to_vector<float>());
      EXPECT_EQ(a[k].observed.to_vector<float>(), b[k].observed.to_vector<float>());
    }
  }
  // Skip mode on CUDA compacts the pinned rows before the copy.
  split.image_paths[2] = "sub/absent.png";
  o.skip_bad_images = true;
  o.shuffle = false;
  DataLoader skip(split, root_, o);
  ::testing::internal::CaptureStderr();
  const std::vector<Batch> batches = epoch(skip, 0);
  ::testing::internal::GetCapturedStderr();
  const int64_t i1 = batches[0].indices.to_vector<int64_t>()[1];
  EXPECT_EQ(batches[0].images.size(0), 2);
  EXPECT_EQ(batches[0].images.to(Device::cpu()).slice(1, 2).clone().to_vector<float>(),
            expected_image(split, i1, flip_decision(7, 0, i1), 16).to_vector<float>());
  // Destroying a CUDA loader mid-epoch is clean too.
  run_with_timeout(
      [&] {
        DataLoader loader(split, root_, o);
        loader.start_epoch(0);
        Batch b;
        ASSERT_TRUE(loader.next(b));
      },
      60, "CUDA loader shutdown");
}

// The CUDA device's transfer logic (batch_transfer.h) with the simulated copy engine: copies start late and read the
// host rows only then, hand_out's images arrive later still. A slot rewritten before its copy read it, a stage
// overwritten before it was handed out, or a copy queued out of order gives images that differ from the CPU loader's.
TEST_F(LoaderTest, DelayedDeviceCopiesYieldTheCpuBatches) {
  MultiLabelSplit split = make_split(13);
  for (const int prefetch : {1, 2, 3}) {
    SCOPED_TRACE("prefetch " + std::to_string(prefetch));
    LoaderOptions o = options(3);
    o.prefetch = prefetch;
    DataLoader cpu(split, root_, o);
    o.simulated_copy_delay_us = 3000;
    DataLoader late(split, root_, o);
    int64_t batches = 0;
    for (int e = 0; e < 3; ++e) {
      const std::vector<Batch> a = epoch(cpu, e);
      late.start_epoch(e);
      std::vector<Batch> b;
      Batch batch;
      while (late.next(batch)) {
        b.push_back(batch);
        if (e == 1) std::this_thread::sleep_for(std::chrono::milliseconds(4));  // a slow consumer: workers run ahead
      }
      late.synchronize();
      ASSERT_EQ(a.size(), b.size());
      batches += int64_t(b.size());
      for (std::size_t k = 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k].indices.to_vector<int64_t>(), b[k].indices.to_vector<int64_t>())
            << "epoch " << e << " batch " << k;
        EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>()) << "epoch " << e << " batch " << k;
        EXPECT_EQ(a[k].labels.to_vector<float>(), b[k].labels.to_vector<float>());
        EXPECT_EQ(a[k].observed.to_vector<float>(), b[k].observed.to_vector<float>());
      }
    }
    // Every batch (none lost rows) was queued for its copy by the worker that finished it, not by next().
    EXPECT_EQ(late.stats().batches_staged, batches);
    // An epoch restarted mid-way abandons staged batches; the next epoch is still exact.
    late.start_epoch(3);
    Batch first;
    ASSERT_TRUE(late.next(first));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let workers stage the batches ahead
    const std::vector<Batch> a = epoch(cpu, 4), b = epoch(late, 4);
    late.synchronize();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k)
      EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>()) << "restarted epoch, batch " << k;
  }
  // Skip mode: a batch that lost a row is compacted on the host and copied by next(), the others are staged.
  split.image_paths[4] = "sub/absent.png";
  LoaderOptions o = options(2);
  o.skip_bad_images = true;
  DataLoader cpu(split, root_, o);
  o.simulated_copy_delay_us = 2000;
  DataLoader late(split, root_, o);
  ::testing::internal::CaptureStderr();
  const std::vector<Batch> a = epoch(cpu, 0), b = epoch(late, 0);
  late.synchronize();
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].indices.to_vector<int64_t>(), b[k].indices.to_vector<int64_t>());
    EXPECT_EQ(a[k].images.to_vector<float>(), b[k].images.to_vector<float>()) << "skip mode, batch " << k;
    EXPECT_EQ(a[k].labels.to_vector<float>(), b[k].labels.to_vector<float>());
  }
  EXPECT_EQ(late.stats().batches_staged, int64_t(b.size()) - 1);
  EXPECT_EQ(late.stats().images_skipped, 1);
}

TEST_F(LoaderTest, CudaDeviceWithoutGpuIsRefused) {
  if (cuda_runtime::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const MultiLabelSplit split = make_split(2);
  LoaderOptions o = options(1);
  o.device = Device::cuda();
  EXPECT_ERROR_CONTAINS(DataLoader(split, root_, o), "DataLoader");
}

}  // namespace
}  // namespace spml::data
