// attest/script.hpp: the Python-named helpers, each against what Python gives.
#include "attest/script.hpp"

#include "attest/json.hpp"

#include <gmock/gmock.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace attest::script {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(script_test, strip_and_split_as_python) {
  EXPECT_EQ(strip("  a b \n"), "a b");
  EXPECT_EQ(strip(" \t\n"), "");
  EXPECT_EQ(lstrip("  a "), "a ");
  EXPECT_EQ(rstrip("  a \r\n"), "  a");
  EXPECT_THAT(split("  one two\tthree\n"), ElementsAre("one", "two", "three"));
  EXPECT_THAT(split("   "), IsEmpty());
  EXPECT_THAT(split("a,,b", ","), ElementsAre("a", "", "b"));
  EXPECT_THAT(split("", ","), ElementsAre(""));
  EXPECT_THROW(split("a", ""), std::invalid_argument);
  EXPECT_THAT(splitlines("a\nb\r\nc\rd\n"), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(splitlines("a\n\nb"), ElementsAre("a", "", "b"));
  EXPECT_THAT(splitlines(""), IsEmpty());
  EXPECT_TRUE(contains("hello world", "o w"));
  EXPECT_FALSE(contains("hello", "world"));
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

TEST(script_test, format_takes_plain_fields) {
  EXPECT_EQ(format("{} has {} lines", "out", 3), "out has 3 lines");
  EXPECT_EQ(format("{{literal}} {}", 1.5), "{literal} 1.5");
  EXPECT_THROW(format("{:.2f}", 1.0), std::invalid_argument);
  EXPECT_THROW(format("{} {}", 1), std::invalid_argument);
  EXPECT_THROW(format("{}", 1, 2), std::invalid_argument);
  EXPECT_THROW(format("}", 1), std::invalid_argument);
}

TEST(script_test, regexes_in_python_syntax) {
  const std::string version = "nginx version: nginx/1.22.1\n";
  auto m = re_search(R"(nginx/(?P<major>\d+)\.(?P<minor>\d+))", version);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->group(), "nginx/1.22");
  EXPECT_EQ(m->group("major"), "1");
  EXPECT_EQ(m->group(2), "22");
  EXPECT_EQ(m->group("minor"), "22");
  EXPECT_THAT(m->groups(), ElementsAre("1", "22"));
  EXPECT_EQ(m->start(), 15u);
  EXPECT_THROW((void)m->group("patch"), std::out_of_range);
  // Non-capturing groups do not count; a back reference by name; \A and \Z.
  auto twice = re_search(R"((?:x)(?P<word>\w+)-(?P=word)\Z)", "xab-ab");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->group("word"), "ab");
  EXPECT_TRUE(re_search(R"(\Anginx)", version));
  EXPECT_FALSE(re_search(R"(\Aversion)", version));
  // re.match is anchored at the start, re.search is not.
  EXPECT_FALSE(re_match("version", version));
  EXPECT_TRUE(re_match("nginx", version));
  // A match keeps its text after the string searched is gone.
  auto kept = re_search("(b+)", std::string("abbbc"));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->group(1), "bbb");
  // What ECMAScript lacks is refused, saying what.
  try {
    (void)re_search("(?<=a)b", "ab");
    ADD_FAILURE() << "a look-behind was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("uses a look-behind, which ECMAScript"));
  }
  EXPECT_THROW((void)re_search("(?i)abc", "ABC"), std::invalid_argument);
  EXPECT_THROW((void)re_search("(", "x"), std::invalid_argument);
  // Python's flags.
  EXPECT_FALSE(re_search("a.b", "a\nb"));
  EXPECT_TRUE(re_search("a.b", "a\nb", re::dotall));
  EXPECT_TRUE(re_search("a[.]b", "a.b", re::dotall));
  EXPECT_FALSE(re_search("a[.]b", "a\nb", re::dotall));
  EXPECT_FALSE(re_search("^b$", "a\nb\nc"));
  EXPECT_TRUE(re_search("^b$", "a\nb\nc", re::multiline));
  EXPECT_TRUE(re_match("ABC", "abc", re::ignorecase | re::multiline));
}

TEST(script_test, more_string_methods_as_python) {
  EXPECT_TRUE(startswith("PRETTY_NAME=x", "PRETTY"));
  EXPECT_FALSE(startswith("PR", "PRETTY"));
  EXPECT_TRUE(endswith("a.service", ".service"));
  EXPECT_FALSE(endswith("e", "service"));
  EXPECT_EQ(replace("a b  c", " ", "_"), "a_b__c");
  EXPECT_EQ(replace("aaa", "aa", "b"), "ba");
  EXPECT_THROW(replace("a", "", "b"), std::invalid_argument);
  EXPECT_EQ(lower("Hello, World"), "hello, world");
  EXPECT_EQ(upper("Hello"), "HELLO");
  EXPECT_EQ(count("ACCEPT x ACCEPT", "ACCEPT"), 2);
  EXPECT_EQ(count("aaaa", "aa"), 2);
  EXPECT_EQ(str(42), "42");
  EXPECT_EQ(str(std::string("x")), "x");
}

TEST(script_test, indexing_slicing_and_len_as_python) {
  const std::string s = "hello";
  const std::vector<std::string> v{"a", "b", "c"};
  EXPECT_EQ(at(s, 0), "h");
  EXPECT_EQ(at(s, -1), "o");
  EXPECT_EQ(at(v, -3), "a");
  EXPECT_THROW((void)at(v, 3), std::out_of_range);
  EXPECT_THROW((void)at(s, -6), std::out_of_range);
  const std::map<std::string, int> m{{"x", 1}};
  EXPECT_EQ(at(m, "x"), 1);
  EXPECT_THROW((void)at(m, "y"), std::out_of_range);
  EXPECT_EQ(slice(s, 1, 3), "el");
  EXPECT_EQ(slice(s, std::nullopt, -2), "hel");
  EXPECT_EQ(slice(s, -3, std::nullopt), "llo");
  EXPECT_EQ(slice(s, 4, 2), "");
  EXPECT_EQ(slice(s, -100, 100), "hello");
  EXPECT_THAT(slice(v, 1, std::nullopt), ElementsAre("b", "c"));
  EXPECT_EQ(len(s), 5);
  EXPECT_EQ(len(v), 3);
  EXPECT_EQ(to_int(" 42\n"), 42);
  EXPECT_EQ(to_int("-7"), -7);
  EXPECT_THROW(to_int("4x"), std::invalid_argument);
  EXPECT_THROW(to_int(""), std::invalid_argument);
}

TEST(script_test, truth_membership_and_comprehensions_as_python) {
  EXPECT_FALSE(truthy(std::string()));
  EXPECT_TRUE(truthy("x"));
  EXPECT_FALSE(truthy(std::vector<int>{}));
  EXPECT_TRUE(truthy(std::optional<int>(0)));
  EXPECT_FALSE(truthy(std::optional<int>()));
  EXPECT_FALSE(truthy(0));
  EXPECT_TRUE(truthy(re_search("b", "abc")));
  const std::vector<std::string> v{"a", "b"};
  EXPECT_TRUE(contains(v, "b"));
  EXPECT_FALSE(contains(v, "c"));
  EXPECT_TRUE(contains(std::map<std::string, int>{{"k", 1}}, "k"));
  EXPECT_THAT(collect(v, [](const auto& x) { return x + "!"; }), ElementsAre("a!", "b!"));
  EXPECT_THAT(
      collect(
          std::vector<int>{1, 2, 3}, [](int x) { return x * 10; }, [](int x) { return x != 2; }),
      ElementsAre(10, 30));
}

TEST(script_test, json_values_as_python) {
  const auto v = json_loads(R"({"a": [1, 2], "b": {"c": "d"}, "units": [{"unit": "x"}]})");
  EXPECT_EQ(at(at(v, "a"), 1), 2);
  EXPECT_EQ(at(at(v, "b"), "c"), "d");
  EXPECT_THROW((void)at(v, "missing"), Json::out_of_range);
  EXPECT_TRUE(contains(v, "a"));
  EXPECT_FALSE(contains(v, "z"));
  EXPECT_TRUE(contains(at(v, "a"), 2));
  EXPECT_EQ(len(at(v, "a")), 2);
  // str() and format() show a JSON string as Python does, without quotes.
  EXPECT_EQ(format("{}-{}", at(at(v, "b"), "c"), at(v, "a")), "d-[1,2]");
  EXPECT_EQ(std::string("unit ") + str(at(at(at(v, "units"), 0), "unit")), "unit x");
  const auto names = collect(at(v, "units"), [](const auto& u) { return at(u, "unit"); });
  EXPECT_TRUE(contains(names, "x"));
  try {
    (void)json_loads("not json");
    ADD_FAILURE() << "not JSON was parsed";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not JSON"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("\"not json\""));
  }
}

TEST(script_test, clocks_as_python) {
  const double before = monotonic();
  EXPECT_GE(monotonic(), before);
  EXPECT_GT(time(), 1.7e9);  // after 2023
}

TEST(script_test, what_attest_port_left_fails_when_reached) {
  try {
    not_ported(12, "x = weird()", "the method .weird()");
    ADD_FAILURE() << "not_ported returned";
  } catch (const NotPorted& e) {
    EXPECT_STREQ(e.what(),
                 "not ported: line 12 of the Python testScript (the method .weird()), to be "
                 "written in C++ by hand: x = weird()");
  }
  const Unported x(7, "x");
  // Each use compiles, and fails the test when run.
  EXPECT_THROW((void)std::string(x), NotPorted);
  EXPECT_THROW((void)(x == 1), NotPorted);
  EXPECT_THROW((void)(std::string("a") + x), NotPorted);
  EXPECT_THROW((void)x.at(0), NotPorted);
  EXPECT_THROW((void)x(1, 2), NotPorted);
  EXPECT_THROW((void)len(x), NotPorted);
  EXPECT_THROW((void)truthy(x), NotPorted);
  EXPECT_THROW(for ([[maybe_unused]] const auto& item : x){}, NotPorted);
}

}  // namespace
}  // namespace attest::script
