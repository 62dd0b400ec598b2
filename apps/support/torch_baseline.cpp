// The PyTorch baseline runner (see torch_baseline.h).
#include "apps/support/torch_baseline.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

namespace spml::apps {
namespace {

// 'text' for /bin/sh, so paths with spaces or quotes reach the interpreter as one argument.
std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(line);
    begin = end + 1;
  }
  return lines;
}

}  // namespace

std::string torch_python() {
  const char* env = std::getenv("SPML_TORCH_PYTHON");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("/usr/bin/python3");
}

TorchBaselineRun run_torch_baseline(const std::string& script, const std::string& arguments) {
  const std::string python = torch_python();
  const std::string who = python + " " + script;
  // stderr joins stdout so that a failure can be explained; the JSON line is picked out of the mix below (PyTorch's
  // warnings go to stderr and may come before or after it).
  const std::string command = shell_quoted(python) + " " + shell_quoted(script) + " " + arguments + " 2>&1";
  TorchBaselineRun run;
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    run.failure = who + ": could not start a shell";
    return run;
  }
  std::string output;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) output += buf;
  const int status = pclose(pipe);
  const std::vector<std::string> lines = lines_of(output);
  std::string json;
  for (auto it = lines.rbegin(); it != lines.rend() && json.empty(); ++it)
    if (it->front() == '{' && nlohmann::json::parse(*it, nullptr, /*allow_exceptions=*/false).is_object()) json = *it;
  const bool exited_ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (exited_ok && !json.empty()) {
    run.json = json;
    return run;
  }
  std::string cause = lines.empty() ? std::string("no output") : lines.back();
  if (cause.size() > 240) cause = cause.substr(0, 240) + "...";
  if (status == -1 || !WIFEXITED(status))
    cause += " (did not exit normally)";
  else if (WEXITSTATUS(status) != 0)
    cause += " (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
  else
    cause += " (no JSON line)";
  run.failure = who + ": " + cause;
  return run;
}

}  // namespace spml::apps
