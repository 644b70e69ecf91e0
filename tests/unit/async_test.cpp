// core/async.hpp: race() and host_work(), on a fresh io_context each.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/async.hpp"
#include "coro.hpp"

namespace attest {
namespace {

using namespace std::chrono_literals;
using testing_support::run;

TEST(async_test, host_work_returns_its_result_on_the_calling_thread) {
  asio::thread_pool pool(1);
  run([&](asio::io_context& io) -> awaitable<void> {
    const auto io_thread = std::this_thread::get_id();
    auto work = detail::host_work(pool, [io_thread] {
      return std::this_thread::get_id() != io_thread ? std::string("off the I/O thread")
                                                     : std::string("on the I/O thread");
    });
    EXPECT_EQ(co_await std::move(work), "off the I/O thread");
    EXPECT_EQ(std::this_thread::get_id(), io_thread);
    EXPECT_TRUE(io.get_executor().running_in_this_thread());
  });
}

TEST(async_test, host_work_passes_its_exception_on) {
  asio::thread_pool pool(1);
  run([&](asio::io_context&) -> awaitable<void> {
    auto work = detail::host_work(pool, []() -> int { throw std::runtime_error("disk full"); });
    try {
      (void)co_await std::move(work);
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "disk full");
    }
  });
}

// A race's deadline ends the wait for host work at once; the work runs to its end on the pool.
// The io_context outlives the pool here, as DriverImpl's does: the abandoned work's result is
// still posted to it.
TEST(async_test, a_deadline_abandons_host_work) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::atomic<bool> finished{false};
  bool ended_at_deadline = false;
  auto body = [&]() -> awaitable<void> {
    detail::Event never(io.get_executor());
    auto work = detail::host_work(pool, [&finished] {
      std::this_thread::sleep_for(500ms);
      finished = true;
    });
    const auto t0 = Clock::now();
    auto r = co_await detail::race(std::move(work), deadline_after(50ms), never);
    ended_at_deadline = r.end == detail::RaceEnd::deadline && Clock::now() - t0 < 400ms;
    EXPECT_FALSE(finished);
  };
  asio::co_spawn(io, body(), asio::detached);
  io.run();
  EXPECT_TRUE(ended_at_deadline);
  pool.join();
  EXPECT_TRUE(finished);
  io.restart();
  io.run();  // the abandoned work's completion, posted after the wait ended
}

}  // namespace
}  // namespace attest
