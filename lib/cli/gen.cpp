// `attest gen`: the testScript → ATTEST_TEST translation unit generator the Nix integration calls
// (lib/cli/main.cpp is its command line). `#line` directives make compiler errors and attest's
// source locations point at the testScript, the way NixOS reports Python tracebacks.
#include "cli/gen.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "attest/error.hpp"
#include "core/json_read.hpp"

namespace attest::cli {
namespace {

using json = nlohmann::json;

// C++20 [lex.key] plus the alternative tokens of [lex.digraph]: none can name a variable.
// Space-separated, with a space at each end, so that a lookup is one find(" id ").
constexpr std::string_view cpp_keywords =
    " alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t"
    " char32_t char8_t class co_await co_return co_yield compl concept const const_cast"
    " consteval constexpr constinit continue decltype default delete do double dynamic_cast else"
    " enum explicit export extern false float for friend goto if inline int long mutable"
    " namespace new noexcept not not_eq nullptr operator or or_eq private protected public"
    " register reinterpret_cast requires return short signed sizeof static static_assert"
    " static_cast struct switch template this thread_local throw true try typedef typeid"
    " typename union unsigned using virtual void volatile wchar_t while xor xor_eq ";

// The generated code's own local; a node of that name would be declared twice.
constexpr std::string_view machines_variable = "machines";

/// `text` as the inside of a C string literal. Also used wherever a name is shown in a `//`
/// comment or a message, so that a newline in a name cannot end the comment early.
std::string c_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\{:03o}", u);  // three digits, so a following digit is not absorbed
    } else {
      out += c;
    }
  }
  return out;
}

bool is_keyword(std::string_view id) {
  return cpp_keywords.find(fmt::format(" {} ", id)) != std::string_view::npos;
}

[[noreturn]] void fail(const GenSpec& spec, std::string_view why, std::string machine = {}) {
  throw ConfigError(fmt::format("test '{}': {}", c_escape(spec.name), why), std::move(machine),
                    "gen");
}

/// The nodes, sorted, after checking that each gets a usable variable of its own.
std::vector<std::string> checked_nodes(const GenSpec& spec) {
  if (spec.name.empty()) throw ConfigError("the test name is empty", "", "gen");
  if (spec.nodes.empty()) fail(spec, "no nodes: a test needs at least one machine");
  std::vector<std::string> nodes = spec.nodes;
  std::sort(nodes.begin(), nodes.end());
  std::map<std::string, std::string> owner;  // identifier → node
  for (const auto& node : nodes) {
    const auto shown = c_escape(node);
    if (node.empty()) fail(spec, "a node name is empty");
    const auto id = cpp_identifier(node);
    if (auto [it, fresh] = owner.emplace(id, node); !fresh) {
      if (it->second == node) fail(spec, fmt::format("node '{}' is listed twice", shown), node);
      fail(spec,
           fmt::format("nodes '{}' and '{}' both become the C++ variable {}; rename one",
                       c_escape(it->second), shown, id),
           node);
    }
    if (is_keyword(id))
      fail(spec,
           fmt::format("node '{}' would be the C++ variable {}, which is a C++ keyword; rename it",
                       shown, id),
           node);
    if (id == machines_variable)
      fail(spec,
           fmt::format("node '{}' would be the C++ variable {}, which the generated code uses for "
                       "the list of all machines; rename it",
                       shown, id),
           node);
  }
  return nodes;
}

void append_ending_in_newline(std::string& out, std::string_view text) {
  out += text;
  if (!text.empty() && text.back() != '\n') out += '\n';
}

// spec_from_json's field readers. Messages follow lib/core/config.cpp's "config FILE: field 'x':".
class JsonContext {
 public:
  explicit JsonContext(std::string_view origin) : origin_(origin) {}
  [[noreturn]] void fail(std::string_view field, std::string_view why) const {
    std::string msg = fmt::format("test spec {}", origin_);
    if (!field.empty()) msg += fmt::format(": field '{}'", field);
    throw ConfigError(fmt::format("{}: {}", msg, why), "", "gen");
  }
  std::string string(const json& v, std::string_view field) const {
    if (!v.is_string())
      fail(field, fmt::format("expected a string, got {}", detail::json_type_name(v)));
    return v.get<std::string>();
  }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};

}  // namespace

std::string cpp_identifier(std::string_view name) {
  std::string id;
  if (!name.empty() && name.front() >= '0' && name.front() <= '9') id += '_';
  for (const char c : name) {
    const bool keep =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    id += keep ? c : '_';
  }
  return id;
}

std::string generate_test(const GenSpec& spec) {
  const auto nodes = checked_nodes(spec);
  std::vector<std::string> shown_nodes;
  shown_nodes.reserve(nodes.size());
  for (const auto& node : nodes) shown_nodes.push_back(c_escape(node));

  std::string out = fmt::format(
      "// Generated by `attest gen` for the test '{}' (machines: {}). Do not edit:\n"
      "// edit {} and generate again.\n",
      c_escape(spec.name), fmt::join(shown_nodes, ", "), c_escape(spec.script_name));
  out +=
      "#include <gmock/gmock.h>\n"
      "\n"
      "#include <chrono>\n"
      "#include <functional>\n"
      "#include <iostream>\n"
      "#include <string>\n"
      "#include <string_view>\n"
      "#include <thread>\n"
      "#include <vector>\n"
      "\n"
      "#include \"attest/attest.hpp\"\n"
      "#include \"attest/script.hpp\"\n"
      "#include \"attest/test.hpp\"\n"
      "\n"
      "// For the testScript's convenience; unused using-declarations do not warn.\n"
      "using namespace std::chrono_literals;\n"
      "using ::testing::ContainsRegex;\n"
      "using ::testing::EndsWith;\n"
      "using ::testing::HasSubstr;\n"
      "using ::testing::IsEmpty;\n"
      "using ::testing::MatchesRegex;\n"
      "using ::testing::Not;\n"
      "using ::testing::StartsWith;\n"
      "\n";
  if (!spec.prelude.empty()) {
    out += "#line 1 \"prelude\"\n";
    append_ending_in_newline(out, spec.prelude);
    // Back to the generated file's own numbering: the line after the directive is line n.
    const auto n = std::count(out.begin(), out.end(), '\n') + 2;
    out += fmt::format("#line {} \"{}\"\n\n", n, c_escape(spec.output_name));
  }
  out += fmt::format("ATTEST_TEST({}) {{\n", cpp_identifier(spec.name));
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    ids.push_back(cpp_identifier(nodes[i]));
    // this->: a node called `machine` (NixOS's default) shadows the fixture's machine().
    out += fmt::format("  [[maybe_unused]] auto& {} = this->machine(\"{}\");\n", ids.back(),
                       shown_nodes[i]);
  }
  out += fmt::format(
      "  [[maybe_unused]] std::vector<std::reference_wrapper<attest::Machine>> {}{{{}}};\n",
      machines_variable, fmt::join(ids, ", "));
  out += fmt::format("#line 1 \"{}\"\n", c_escape(spec.script_name));
  append_ending_in_newline(out, spec.script);
  out += "}\n";
  return out;
}

GenSpec spec_from_json(std::string_view json_text, std::string_view origin) {
  const JsonContext ctx(origin);
  std::string why;
  auto parsed = detail::parse_json(json_text, why);
  if (!parsed) ctx.fail("", fmt::format("not valid JSON: {}", why));
  const json& doc = *parsed;
  if (!doc.is_object()) ctx.fail("", "expected a JSON object");

  GenSpec spec;
  bool has_name = false, has_nodes = false, has_script = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "name") {
      spec.name = ctx.string(value, key);
      has_name = true;
    } else if (key == "nodes") {
      if (!value.is_array()) ctx.fail(key, "expected an array of node names");
      for (std::size_t i = 0; i < value.size(); ++i)
        spec.nodes.push_back(ctx.string(value[i], fmt::format("nodes[{}]", i)));
      has_nodes = true;
    } else if (key == "script") {
      spec.script = ctx.string(value, key);
      has_script = true;
    } else if (key == "script_name") {
      spec.script_name = ctx.string(value, key);
    } else if (key == "prelude") {
      spec.prelude = ctx.string(value, key);
    } else {
      ctx.fail(key, "unknown field (known fields: name, nodes, script, script_name, prelude)");
    }
  }
  if (!has_name) ctx.fail("name", "missing (the test's name)");
  if (!has_nodes) ctx.fail("nodes", "missing (the test's machines)");
  if (!has_script) ctx.fail("script", "missing (the test's C++ statements)");
  // Report an unusable spec now, with its origin, rather than later without it.
  try {
    (void)checked_nodes(spec);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("test spec {}: {}", ctx.origin(), e.what()), e.machine(), "gen");
  }
  return spec;
}

}  // namespace attest::cli
