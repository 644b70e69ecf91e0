// The shell protocol's bytes: command lines, the end marker search across reads, banner search.
#include "shell/framing.hpp"

#include <gmock/gmock.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace attest::shell {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const Nonce nonce{"0123456789ab", "cdef01234567"};
const Nonce session{"aaaaaaaaaaaa", "bbbbbbbbbbbb"};

TEST(framing_test, command_line_runs_one_subshell_and_splits_the_nonce) {
  EXPECT_EQ(command_line("true", nonce, std::nullopt),
            "( set -e; eval 'true' ) 8>&-; echo 0123456789ab''cdef01234567 $?\n");
  EXPECT_EQ(command_line("a; b", nonce, std::nullopt),
            "( set -e; eval 'a; b' ) 8>&-; echo 0123456789ab''cdef01234567 $?\n");
  // The joined nonce never appears in what is sent.
  EXPECT_THAT(command_line("echo x", nonce, std::nullopt), Not(HasSubstr(nonce.joined())));
}

TEST(framing_test, command_line_quotes_single_quotes) {
  EXPECT_EQ(command_line("echo 'it'", nonce, std::nullopt),
            "( set -e; eval 'echo '\\''it'\\''' ) 8>&-; echo 0123456789ab''cdef01234567 $?\n");
}

TEST(framing_test, guest_timeout_uses_timeout_and_nixos_options) {
  EXPECT_EQ(command_line("sleep 9", nonce, std::chrono::milliseconds(2500)),
            "timeout -k 5 2.500 bash -c 'set -euo pipefail; sleep 9' 8>&-; echo "
            "0123456789ab''cdef01234567 $?\n");
  EXPECT_THAT(command_line("x", nonce, std::chrono::seconds(30)),
              HasSubstr("timeout -k 5 30 bash"));
  // Never "timeout 0", which would mean no timeout at all.
  EXPECT_THAT(command_line("x", nonce, std::chrono::milliseconds(0)),
              HasSubstr("timeout -k 5 0.001 "));
}

// NixOS runs every command under `set -euo pipefail`: a simple command's text says nothing of
// what it runs (`source FILE`, `. FILE`, a function), so every command line sets -e.
TEST(framing_test, every_command_runs_with_errexit) {
  for (const char* command : {"true", "source /etc/x", ". ./x", "a; b", "a | b", "f"})
    EXPECT_THAT(command_line(command, nonce, std::nullopt), HasSubstr("( set -e; eval "))
        << command;
}

TEST(framing_test, background_operators_are_told_from_other_ampersands) {
  for (const char* text :
       {"server &", "a & b", "(sleep 1; echo x) &", "a &>/dev/null &", "coproc cat", "x & wait"})
    EXPECT_TRUE(starts_background_jobs(text)) << text;
  for (const char* text :
       {"a && b", "a 2>&1", "a &>/dev/null", "a <&3", "a |& b", "a >& f", "true", "a &&b&&c"})
    EXPECT_FALSE(starts_background_jobs(text)) << text;
}

// A command that starts background jobs runs in a process group of its own, and its marker says
// (`+`) whether any of them outlived it; the others pay nothing for it.
TEST(framing_test, a_command_with_background_jobs_reports_its_survivors) {
  EXPECT_EQ(command_line("s &", nonce, std::nullopt),
            "set -m; ( set -e; eval 's &' ) 8>&- & set +m; wait $!; __attest_s=$?; kill -0 -- "
            "-$! 2>&- && __attest_s=$__attest_s+; disown $! 2>&-; echo "
            "0123456789ab''cdef01234567 $__attest_s\n");
  EXPECT_THAT(command_line("s &", nonce, std::chrono::seconds(3)),
              HasSubstr("set -m; timeout -k 5 3 bash -c 'set -euo pipefail; s &' 8>&- & set +m; "
                        "wait $!;"));
  EXPECT_THAT(command_line("a && b 2>&1", nonce, std::nullopt), Not(HasSubstr("set -m")));
}

TEST(framing_test, rotate_line_moves_the_output_and_syncs) {
  EXPECT_EQ(rotate_line(nonce), "__attest_rotate; echo 0123456789ab''cdef01234567 0\n");
}

const Nonce route{"cccccccccccc", "dddddddddddd"};

TEST(framing_test, setup_script_installs_the_protocol) {
  const auto s = setup_script(session, route, nonce);
  EXPECT_THAT(s, HasSubstr("/sys/class/virtio-ports/*/name"));
  EXPECT_THAT(s, HasSubstr("= org.attest.data ]"));
  EXPECT_THAT(s, HasSubstr("echo cccccccccccc''dddddddddddd \"$__attest_data\""));
  EXPECT_THAT(s, HasSubstr("trap '' HUP"));
  EXPECT_THAT(s, HasSubstr("coproc __attest_out"));
  EXPECT_THAT(s, HasSubstr("0</dev/null"));
  EXPECT_THAT(s, HasSubstr("set -u -o pipefail"));
  EXPECT_THAT(s, HasSubstr("echo aaaaaaaaaaaa''bbbbbbbbbbbb closed"));
  EXPECT_THAT(s, HasSubstr("__attest_rotate() { kill -KILL \"$__attest_cat\""));
  EXPECT_THAT(s, HasSubstr("exec cat >&2 8>&-"));
  EXPECT_THAT(s, Not(HasSubstr(session.joined())));
  EXPECT_THAT(s, Not(HasSubstr(route.joined())));
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(s.find('\n'), s.size() - 1) << "the setup is one line";
}

TEST(framing_test, nonces_are_random_hex) {
  std::mt19937_64 rng(1);
  const auto a = make_nonce(rng);
  const auto b = make_nonce(rng);
  EXPECT_EQ(a.first.size(), 12u);
  EXPECT_EQ(a.second.size(), 12u);
  EXPECT_EQ(a.joined().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.joined(), b.joined());
}

TEST(framing_test, stream_search_finds_a_pattern_split_anywhere) {
  const std::string pattern = "MARKER";
  const std::string text = "xxxxxMARKERyy";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    StreamSearch s(pattern);
    std::string buf = text.substr(0, split);
    auto p = s.find(buf);
    if (p == std::string::npos) {
      buf = text;
      p = s.find(buf);
    }
    EXPECT_EQ(p, 5u) << "split at " << split;
  }
}

Response::State feed_in_pieces(Response& r, const std::string& data, std::size_t piece) {
  for (std::size_t i = 0; i < data.size(); i += piece) {
    const auto part = data.substr(i, piece);
    std::copy(part.begin(), part.end(), r.prepare(part.size()));
    if (r.commit(part.size()) != Response::State::reading) break;
  }
  return r.state();
}

TEST(framing_test, response_is_byte_exact_for_every_split) {
  std::string output;
  for (int i = 0; i < 256; ++i) output.push_back(static_cast<char>(i));
  output += "no newline at the end";
  const std::string stream = output + nonce.joined() + " 42\n";
  for (std::size_t piece : {1u, 2u, 3u, 7u, 24u, 25u, 64u, 4096u}) {
    Response r(nonce, session);
    ASSERT_EQ(feed_in_pieces(r, stream, piece), Response::State::done) << piece;
    EXPECT_EQ(r.status(), 42);
    EXPECT_EQ(r.take_output(), output) << piece;
  }
}

TEST(framing_test, page_buffer_keeps_its_contents_while_growing_and_drains_them_exactly) {
  PageBuffer b;
  EXPECT_EQ(b.capacity(), 0u);
  std::string expected;
  // Grown in odd steps past several megabytes (moves by remapping), filled with a byte pattern.
  for (std::size_t size = 1; size < (7u << 20); size = size * 3 + 7) {
    b.grow(size);
    ASSERT_GE(b.capacity(), size);
    for (std::size_t i = expected.size(); i < size; ++i) {
      b.data()[i] = static_cast<char>(i * 131 + (i >> 12));
      expected.push_back(b.data()[i]);
    }
  }
  ASSERT_EQ(std::string_view(b.data(), expected.size()), expected);
  PageBuffer moved = std::move(b);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(moved.drain(expected.size()), expected);
  EXPECT_EQ(moved.capacity(), 0u);
  EXPECT_EQ(moved.data(), nullptr);
  EXPECT_EQ(PageBuffer().drain(0), "");
}

TEST(framing_test, a_large_response_is_byte_exact) {
  Response r(nonce, session);
  std::string out;
  for (std::size_t i = 0; i < (5u << 20) + 123; ++i) out.push_back(static_cast<char>(i % 251));
  const std::string wire = out + end_marker(nonce) + "0\n";
  for (std::size_t at = 0; at < wire.size(); at += 65536) {
    const std::size_t n = std::min<std::size_t>(65536, wire.size() - at);
    std::copy_n(wire.data() + at, n, r.prepare(65536));
    r.commit(n);
  }
  ASSERT_EQ(r.state(), Response::State::done);
  EXPECT_EQ(r.take_output(), out);
}

TEST(framing_test, response_reports_what_came_after_the_marker) {
  Response r(nonce, session);
  EXPECT_EQ(r.feed("out" + nonce.joined() + " 0\nlate bytes"), Response::State::done);
  EXPECT_EQ(r.leftover(), "late bytes");
  EXPECT_EQ(r.take_output(), "out");
}

TEST(framing_test, response_waits_for_the_whole_status) {
  Response r(nonce, session);
  EXPECT_EQ(r.feed("x" + nonce.joined() + " 1"), Response::State::reading);
  EXPECT_EQ(r.feed("27"), Response::State::reading);
  EXPECT_EQ(r.feed("\n"), Response::State::done);
  EXPECT_EQ(r.status(), 127);
}

TEST(framing_test, response_rejects_a_malformed_status) {
  for (const char* bad : {" abc\n", " 256\n", " \n", " -1\n", " 123456789"}) {
    Response r(nonce, session);
    EXPECT_EQ(r.feed(nonce.joined() + bad), Response::State::malformed) << bad;
  }
}

TEST(framing_test, response_notices_the_shell_exiting) {
  Response r(nonce, session);
  EXPECT_EQ(r.feed("partial output" + session.joined() + " clo"), Response::State::reading);
  EXPECT_EQ(r.feed("sed\n"), Response::State::closed);
}

// Found by tests/fuzz (corpus/framing/closed-before-marker): in one read, a marker after the
// sentinel used to win, while the same bytes in two reads ended as closed.
TEST(framing_test, a_closed_sentinel_before_the_marker_wins_in_one_read) {
  Response r(nonce, session);
  EXPECT_EQ(r.feed("partial" + closed_sentinel(session) + nonce.joined() + " 0\n"),
            Response::State::closed);
}

// Found by tests/fuzz: " 00000\n" used to be status 0 in one read and malformed byte by byte.
TEST(framing_test, a_status_is_one_to_three_digits_however_it_arrives) {
  for (const std::string status : {" 00000\n", " 0000\n"}) {
    const std::string wire = nonce.joined() + status;
    for (const std::size_t piece : {1u, 2u, 5u, 64u}) {
      Response r(nonce, session);
      for (std::size_t i = 0; i < wire.size() && r.state() == Response::State::reading; i += piece)
        r.feed(wire.substr(i, piece));
      EXPECT_EQ(r.state(), Response::State::malformed) << status << " in pieces of " << piece;
    }
  }
  Response zeros(nonce, session);
  EXPECT_EQ(zeros.feed(nonce.joined() + " 000\n"), Response::State::done);
  EXPECT_EQ(zeros.status(), 0);
  Response plus(nonce, session);
  EXPECT_EQ(plus.feed(nonce.joined() + " +1\n"), Response::State::malformed);
}

TEST(framing_test, a_plus_after_the_status_says_background_processes_outlived_the_command) {
  for (const std::string status : {" 0+\n", " 255+\n"}) {
    const std::string wire = "out" + nonce.joined() + status;
    for (const std::size_t piece : {1u, 3u, 64u}) {
      Response r(nonce, session);
      EXPECT_EQ(feed_in_pieces(r, wire, piece), Response::State::done) << status;
      EXPECT_TRUE(r.strays());
      EXPECT_EQ(r.status(), std::stoi(status.substr(1)));
      EXPECT_EQ(r.take_output(), "out");
    }
  }
  Response none(nonce, session);
  EXPECT_EQ(none.feed(nonce.joined() + " 3\n"), Response::State::done);
  EXPECT_FALSE(none.strays());
  for (const char* bad : {" +\n", " 1++\n", " 1+2\n", " 2555+\n", " 255++"}) {
    Response r(nonce, session);
    EXPECT_EQ(r.feed(nonce.joined() + bad), Response::State::malformed) << bad;
  }
}

TEST(framing_test, a_similar_nonce_is_just_output) {
  Response r(nonce, session);
  const std::string other =
      "0123456789ab"
      "cdef0123456X 0\n";
  EXPECT_EQ(r.feed(other + nonce.joined() + " 0\n"), Response::State::done);
  EXPECT_EQ(r.take_output(), other);
}

TEST(framing_test, banner_found_across_reads) {
  const std::string stream = "early noise\r\nSpawning backdoor root shell...\nrest";
  for (std::size_t piece = 1; piece < stream.size(); ++piece) {
    BannerSearch b;
    bool seen = false;
    for (std::size_t i = 0; i < stream.size() && !seen; i += piece)
      seen = b.feed(stream.substr(i, piece));
    ASSERT_TRUE(seen) << piece;
  }
  BannerSearch b;
  EXPECT_FALSE(b.feed("Spawning backdoor"));
  EXPECT_TRUE(b.feed(" root shell...\nafter"));
  EXPECT_EQ(b.after(), "after");
}

TEST(framing_test, route_line_found_across_reads) {
  RouteSearch r(route);
  EXPECT_FALSE(r.feed("junk cccccccccccc"));
  EXPECT_FALSE(r.feed("dddddddddddd /dev/vpo"));
  EXPECT_TRUE(r.feed("rt0p2\nrest"));
  EXPECT_EQ(r.device(), "/dev/vport0p2");
  EXPECT_EQ(r.after(), "rest");
  RouteSearch none(route);
  EXPECT_TRUE(none.feed("ccccccccccccdddddddddddd none\n"));
  EXPECT_EQ(none.device(), "none");
}

}  // namespace
}  // namespace attest::shell
