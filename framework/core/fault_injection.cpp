// SPML_FAULT parsing and the actions of the test-only fault hook (see fault_injection.h).
#include "framework/core/fault_injection.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/common/error.h"

namespace spml::fault {
namespace {

struct Rule {
  std::string point;
  long long hit = 1;
  Action action = Action::none;
};

struct Plan {
  std::vector<Rule> rules;
  std::mutex mutex;
  std::map<std::string, long long, std::less<>> hits;  // only points that have a rule are counted
};

const char* action_name(Action a) {
  switch (a) {
    case Action::kill:
      return "kill";
    case Action::pause:
      return "pause";
    case Action::nan:
      return "nan";
    case Action::enospc:
      return "enospc";
    case Action::eio:
      return "eio";
    case Action::none:
      break;
  }
  return "none";
}

// The actions each point supports: a rule the code would ignore is a parse error, not a silent no-op.
bool point_supports(const std::string& point, Action a) {
  if (a == Action::kill || a == Action::pause) return true;
  if (point == "train-batch") return a == Action::nan;
  if (point.rfind("write:", 0) == 0) return a == Action::enospc || a == Action::eio;
  return false;
}

bool known_point(const std::string& point) {
  return point == "train-step" || point == "train-batch" || point == "eval-batch" ||
         (point.rfind("write:", 0) == 0 && point.size() > 6 && point.find('/') == std::string::npos);
}

Rule parse_rule(const std::string& text, const std::string& value) {
  const auto bad = [&](const std::string& why) {
    SPML_FAIL("SPML_FAULT=", value, ": ", why, " in \"", text,
              "\" (expected point[@N]:action, points train-step, train-batch, eval-batch, write:<file name>; "
              "actions kill, pause, nan, enospc, eio)");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) bad("no action");
  Rule rule;
  const std::string action = text.substr(colon + 1);
  if (action == "kill")
    rule.action = Action::kill;
  else if (action == "pause")
    rule.action = Action::pause;
  else if (action == "nan")
    rule.action = Action::nan;
  else if (action == "enospc")
    rule.action = Action::enospc;
  else if (action == "eio")
    rule.action = Action::eio;
  else
    bad("unknown action \"" + action + "\"");
  rule.point = text.substr(0, colon);
  const std::size_t at = rule.point.rfind('@');
  if (at != std::string::npos) {
    const std::string count = rule.point.substr(at + 1);
    if (count.empty() || count.find_first_not_of("0123456789") != std::string::npos || count.size() > 12)
      bad("the hit count \"" + count + "\" is not a positive integer");
    rule.hit = std::stoll(count);
    if (rule.hit < 1) bad("the hit count must be >= 1");
    rule.point.resize(at);
  }
  if (!known_point(rule.point)) bad("unknown point \"" + rule.point + "\"");
  if (!point_supports(rule.point, rule.action))
    bad("point " + rule.point + " does not support the action " + action_name(rule.action));
  return rule;
}

Plan& plan() {
  static Plan* const parsed = [] {
    auto p = std::make_unique<Plan>();  // released, never freed: hit() may run during static destruction
    const char* env = std::getenv("SPML_FAULT");
    const std::string value = env != nullptr ? env : "";
    std::size_t start = 0;
    while (start < value.size()) {
      std::size_t end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      const std::string item = value.substr(start, end - start);
      if (!item.empty()) p->rules.push_back(parse_rule(item, value));
      start = end + 1;
    }
    return p.release();
  }();
  return *parsed;
}

void kill_now(const std::string& point, long long n) {
  std::fprintf(stderr, "SPML_FAULT: SIGKILL at %s (hit %lld)\n", point.c_str(), n);
  std::fflush(nullptr);
  ::kill(::getpid(), SIGKILL);
  std::abort();  // not reached
}

void pause_here(const std::string& point, long long n) {
  std::fprintf(stderr, "SPML_FAULT: pause at %s (hit %lld), pid %d\n", point.c_str(), n, int(::getpid()));
  std::fflush(nullptr);
  if (const char* file = std::getenv("SPML_FAULT_PAUSE_FILE"); file != nullptr && *file != '\0') {
    const int fd = ::open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      [[maybe_unused]] const ssize_t written = ::write(fd, pid.data(), pid.size());
      ::close(fd);
    }
  }
  // A handled signal (SIGINT's stop request) ends the pause early, so a test can interrupt at this exact point.
  for (int i = 0; i < 600; ++i)
    if (::usleep(100 * 1000) != 0 && errno == EINTR) break;
}

}  // namespace

bool enabled() {
  static const bool on = !plan().rules.empty();
  return on;
}

Action hit(std::string_view point) {
  Plan& p = plan();
  Action action = Action::none;
  long long n = 0;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    bool named = false;
    for (const Rule& r : p.rules) named = named || r.point == point;
    if (!named) return Action::none;
    auto it = p.hits.find(point);
    if (it == p.hits.end()) it = p.hits.emplace(std::string(point), 0).first;
    n = ++it->second;
    for (const Rule& r : p.rules)
      if (r.point == point && r.hit == n) action = r.action;
  }
  if (action == Action::kill) kill_now(std::string(point), n);
  if (action == Action::pause) {
    pause_here(std::string(point), n);
    return Action::none;
  }
  if (action != Action::none)
    std::fprintf(stderr, "SPML_FAULT: %s at %.*s (hit %lld)\n", action_name(action), int(point.size()), point.data(),
                 n);
  return action;
}

int error_number(Action action) {
  return action == Action::enospc ? ENOSPC : action == Action::eio ? EIO : 0;
}

}  // namespace spml::fault
