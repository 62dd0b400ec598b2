// The SPML protocol on the pre-formatted layout (docs/method.md section 8): the seeded 80/20
// train/val split, the single observed positive per row (NumPy-exact draws), and reading/writing a folder of
// formatted_{train,val}_{images,labels,labels_obs}.npy plus an optional dataset.json
// ({"name", "class_names", "image_root"}).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/data/dataset.h"

namespace spml::data {

// perm = RandomState(seed).permutation(n), n_val = round-half-even(0.2 n); returns
// {sorted(perm[:n - n_val]), sorted(perm[n - n_val:])} = {train rows, val rows}.
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_train_val(int64_t n, uint64_t seed = 1200);

// labels: [N, C] float32 in {0, 1} (CPU). One fresh RandomState(seed); for each row in order: shuffle the
// positive columns (ascending) and keep the first, then shuffle the negative columns (draws consumed, nothing
// kept). Rows without positives stay zero. Returns [N, C] float32.
Tensor observe_single_positive(const Tensor& labels, uint64_t seed = 1200);

// Reads DIR/formatted_{train,val}_*.npy (labels of any numeric dtype, converted to float32; values must be 0/1;
// observed rows hold at most one positive). train/val = split_train_val of the formatted_train rows, test = the
// formatted_val rows; source_rows index the files. Class names, image root and name come from DIR/dataset.json
// when present (else class_<i>, DIR, the folder name); non-empty image_root / name arguments override them. A
// relative image_root in dataset.json is taken relative to DIR. Throws spml::Error naming files, shapes, rows.
MultiLabelDataset load_preformatted(const std::string& dir, const std::string& image_root = "",
                                    const std::string& name = "");

// Creates DIR if needed and writes the six .npy files (float32 labels; observed labels from
// observe_single_positive with seed 1200, per file) and dataset.json, each file atomically. labels: [N, C]
// tensors of any numeric dtype with values 0/1; class_names must have C entries (or be empty: class_<i>).
void write_preformatted(const std::string& dir, const std::vector<std::string>& train_paths, const Tensor& train_labels,
                        const std::vector<std::string>& val_paths, const Tensor& val_labels,
                        const std::vector<std::string>& class_names, const std::string& name,
                        const std::string& image_root);

// True when DIR holds the six formatted_*.npy files and dataset.json: what write_preformatted leaves once it has
// finished (dataset.json is written last), so a generator can tell a finished folder from a half-built one.
bool preformatted_exists(const std::string& dir);

}  // namespace spml::data
