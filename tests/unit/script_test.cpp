// attest/script.hpp: the Python-named helpers, each against what Python gives.
#include "attest/script.hpp"

#include <gmock/gmock.h>

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
}

}  // namespace
}  // namespace attest::script
