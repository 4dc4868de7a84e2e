// Config files as arguments: parse the TOML subset, map each key to its subcommand's option.
#include "apps/config_file.h"

#include <fstream>
#include <set>

#include "core/error.h"

namespace kdcu {
namespace app {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

// One value: "text" (with \" and \\ escapes), or a bare word/number; appended to `out`.
size_t parse_scalar(const std::string& v, size_t i, std::string& out, const std::string& where) {
  if (v[i] == '"') {
    ++i;
    while (i < v.size() && v[i] != '"') {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      out += v[i++];
    }
    require<ValueError>(i < v.size(), where, ": unterminated string");
    return i + 1;
  }
  const size_t end = v.find_first_of(",]", i);
  out = trim(v.substr(i, end == std::string::npos ? std::string::npos : end - i));
  require<ValueError>(!out.empty(), where, ": empty value");
  return end == std::string::npos ? v.size() : end;
}

std::vector<std::string> parse_values(const std::string& v, const std::string& where) {
  std::vector<std::string> out;
  if (v.empty() || v[0] != '[') {
    std::string one;
    const size_t end = parse_scalar(v, 0, one, where);
    require<ValueError>(trim(v.substr(end)).empty(), where, ": unexpected text after the value: '", v, "'");
    return {one};
  }
  size_t i = 1;
  while (true) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    require<ValueError>(i < v.size(), where, ": unterminated array '", v, "'");
    if (v[i] == ']') break;
    std::string one;
    i = parse_scalar(v, i, one, where);
    out.push_back(one);
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    if (i < v.size() && v[i] == ',') ++i;
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_config(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() < 2) return args;
  const CLI::App* sub = nullptr;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == args[1]) sub = s;
  if (sub == nullptr) return args;
  std::string path;
  std::vector<std::string> rest;
  std::set<std::string> given;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config") {
      require<ValueError>(i + 1 < args.size(), "--config needs a file name");
      path = args[++i];
      continue;
    }
    if (a.rfind("--config=", 0) == 0) {
      path = a.substr(9);
      continue;
    }
    if (a.rfind("--", 0) == 0)
      given.insert(a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2));
    rest.push_back(a);
  }
  if (path.empty()) return args;
  std::ifstream f(path);
  require<IoError>(f.good(), "--config ", path, ": cannot open the file");
  std::vector<std::string> out{args[0], args[1]};
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    const std::string where = path + ":" + std::to_string(n);
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == '[') continue;
    const size_t eq = t.find('=');
    require<ValueError>(eq != std::string::npos, where, ": expected 'name = value', found '", t, "'");
    const std::string key = trim(t.substr(0, eq));
    const CLI::Option* opt = sub->get_option_no_throw("--" + key);
    require<ValueError>(opt != nullptr, where, ": '", key, "' is not an option of kdcu ", sub->get_name(),
                        " (see kdcu ", sub->get_name(), " --help)");
    if (given.count(key)) continue;  // the command line wins
    const std::vector<std::string> values = parse_values(trim(t.substr(eq + 1)), where);
    if (opt->get_expected_max() == 0) {  // a flag: true sets it, false leaves the default
      require<ValueError>(values.size() == 1 && (values[0] == "true" || values[0] == "false"), where, ": '", key,
                          "' is a flag; expected true or false");
      if (values[0] == "true") out.push_back("--" + key);
      continue;
    }
    for (const std::string& v : values) {
      if (v.empty()) continue;  // an empty string is the option's default (no directory, no milestones)
      out.push_back("--" + key);
      out.push_back(v);
    }
  }
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

}  // namespace app
}  // namespace kdcu
