// Test-only fault injection: the environment variable SPML_FAULT names points in the code and what happens on
// their N-th hit in this process, so the tests can SIGKILL a real run at an exact place, or make a write fail
// with ENOSPC / EIO, or feed a NaN batch (tests/test_crash_resume.cpp, docs/reliability.md).
//
//   SPML_FAULT=point[@N]:action[,point[@N]:action...]      N >= 1, default 1
//   e.g. SPML_FAULT=train-step@5:kill   SPML_FAULT=write:last.ckpt@2:enospc,eval-batch@3:pause
//
// Points (hits are counted per point name, from 1, over the whole process):
//   train-step     after a training step's optimizer update (or its non-finite skip), mid-epoch
//                  (TrainingRun::train_epoch)                                   actions: kill, pause
//   train-batch    after a training batch is loaded, before its forward; `nan` fills its images with NaN
//                                                                               actions: nan, kill, pause
//   eval-batch     after each evaluated batch of a validation or test pass (evaluate_split)
//                                                                               actions: kill, pause
//   write:<name>   in io::write_file_atomic for a file named <name> (no folder, e.g. write:last.ckpt), after half
//                  of the bytes went to the temp file, before fsync and rename; `enospc` / `eio` make the write
//                  fail with that errno                                         actions: enospc, eio, kill, pause
// Actions:
//   kill     flushes stdio, then sends SIGKILL to this process: a real kill at that exact point
//   pause    creates the file named by SPML_FAULT_PAUSE_FILE (if set; it holds the pid), then sleeps up to 60 s
//            so a test can act while the process is known to be there (e.g. hold the run folder's lock); a
//            handled signal (spml-train's SIGINT) ends the sleep early, so a stop request lands at this point
//   nan, enospc, eio   returned to the caller, which simulates the fault
// A malformed SPML_FAULT (unknown point or action, an action the point does not support, a bad count) is a
// spml::Error naming the variable. Unset or empty: at() costs one cached check.
#pragma once

#include <string>
#include <string_view>

namespace spml::fault {

enum class Action { none, kill, pause, nan, enospc, eio };

// Whether SPML_FAULT holds any rule. Reads and checks the variable on the first call (throws spml::Error on a
// malformed value); apps call it at start-up so a typo fails before any work.
bool enabled();

// Counts a hit of `point`; on the N-th hit of a rule for it, performs kill / pause (pause then returns none) or
// returns nan / enospc / eio. none otherwise.
Action hit(std::string_view point);

inline Action at(std::string_view point) {
  return enabled() ? hit(point) : Action::none;
}

// ENOSPC for enospc, EIO for eio, 0 otherwise.
int error_number(Action action);

}  // namespace spml::fault
