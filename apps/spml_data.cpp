// spml-data: builds and inspects multi-label data sets: `prepare voc|coco|cub` (the originals -> the
// pre-formatted SPML layout), `fashion-mosaic` (the built-in data set from Debian's Fashion-MNIST photos),
// `inspect` (counts and label checks) and `bench` (loader throughput).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/support/dataset_inspect.h"
#include "apps/support/loader_bench.h"
#include "framework/core/runtime.h"
#include "framework/data/builders/fashion_mosaic.h"
#include "framework/data/builders/public_datasets.h"
#include "framework/data/preformatted.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-data: prepare, build, inspect and benchmark SPML data sets"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();

  auto* prepare = app.add_subcommand("prepare", "write the pre-formatted layout from a data set's original files");
  std::string kind, src, out;
  prepare->add_option("dataset", kind, "voc, coco or cub")->required()->check(CLI::IsMember({"voc", "coco", "cub"}));
  prepare->add_option("--src", src, "VOCdevkit/VOC2012, the COCO root, or CUB_200_2011")->required();
  prepare->add_option("--out", out, "output folder")->required();

  auto* mosaic = app.add_subcommand("fashion-mosaic", "build Fashion-Mosaic from Debian's Fashion-MNIST photos");
  spml::data::FashionMosaicOptions mo;
  mosaic->add_option("--out", mo.out, "output folder")->required();
  mosaic->add_option("--train", mo.train, "train canvases (later split 80/20 into train/val)")->capture_default_str();
  mosaic->add_option("--test", mo.test, "test canvases")->capture_default_str();
  mosaic->add_option("--size", mo.size, "canvas size S (S x S)")->capture_default_str();
  mosaic->add_option("--seed", mo.seed, "seed of the composition")->capture_default_str();
  mosaic->add_option("--format", mo.format, "png (lossless) or jpg")
      ->check(CLI::IsMember({"png", "jpg"}))
      ->capture_default_str();
  mosaic->add_option("--fashion-mnist", mo.fashion_mnist_dir, "Fashion-MNIST folder")->capture_default_str();

  auto* inspect = app.add_subcommand("inspect", "counts, label cardinality, positives per class, observed-label check");
  std::string data_dir, images_dir;
  inspect->add_option("--data", data_dir, "pre-formatted folder")->required();
  inspect->add_option("--images", images_dir, "image root (default: the folder's dataset.json)");

  auto* bench = app.add_subcommand("bench", "loader throughput: decode + resize + flip + normalise, vs PIL + NumPy");
  int64_t bench_size = 448, bench_images = 200;
  bench->add_option("--data", data_dir, "pre-formatted folder")->required();
  bench->add_option("--images", images_dir, "image root (default: the folder's dataset.json)");
  bench->add_option("--image-size", bench_size, "resize to S x S")->capture_default_str();
  bench->add_option("--max-images", bench_images, "images per pass")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    spml::set_num_threads(threads);
    using namespace spml::data;
    using namespace spml::apps;
    if (*prepare) {
      const BuildSummary s = kind == "voc"    ? build_voc2012(src, out)
                             : kind == "coco" ? build_coco2014(src, out)
                                              : build_cub(src, out);
      std::printf(
          "{\"dataset\": \"%s\", \"classes\": %lld, \"train_rows\": %lld, \"val_rows\": %lld, \"out\": \"%s\"}\n",
          s.name.c_str(), static_cast<long long>(s.num_classes), static_cast<long long>(s.train_rows),
          static_cast<long long>(s.val_rows), out.c_str());
    } else if (*mosaic) {
      const FashionMosaicResult r = build_fashion_mosaic(mo);
      std::printf("{\"dataset\": \"fashion-mosaic\", \"train\": %lld, \"test\": %lld, \"size\": %d, \"out\": \"%s\"}\n",
                  static_cast<long long>(mo.train), static_cast<long long>(mo.test), mo.size, mo.out.c_str());
      (void)r;
    } else if (*inspect) {
      std::printf("%s\n", inspect_json(load_preformatted(data_dir, images_dir)).c_str());
    } else if (*bench) {
      const MultiLabelDataset ds = load_preformatted(data_dir, images_dir);
      LoaderBenchOptions options;
      options.image_size = int(bench_size);
      options.max_images = bench_images;
      options.script = SPML_SOURCE_DIR "/scripts/bench_pil_pipeline.py";
      run_loader_bench(ds.train, ds.image_root, options);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-data: error: %s\n", e.what());
    return 1;
  }
}
