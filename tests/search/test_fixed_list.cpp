// The fixed-list strategy: trials per board in order as room frees up, done when all are handed
// out, and a resumed list continuing after the trials an earlier session proposed.
#include <catch2/catch.hpp>

#include "search/fixed_list.h"

namespace search = hilq::search;

namespace {

std::vector<search::Trial> trials(const std::string& board, int n) {
  std::vector<search::Trial> out;
  for (int i = 1; i <= n; ++i) {
    search::Trial t;
    t.board = board;
    t.kind = "noop";
    t.config = {{"n", i}};
    out.push_back(t);
  }
  return out;
}

std::vector<search::Trial> two_boards() {
  auto all = trials("local", 3);
  for (auto& t : trials("pi5", 2)) all.push_back(t);
  return all;
}

hilq::db::MeasurementRow row(const std::string& status) {
  hilq::db::MeasurementRow r;
  r.status = status;
  return r;
}

}  // namespace

TEST_CASE("A fixed list hands out each board's trials in order, as many as there is room for",
          "[search]") {
  search::FixedList list(two_boards());
  CHECK(list.planned() == size_t{5});
  CHECK_FALSE(list.done());
  auto a = list.next_batch("local", 2);
  REQUIRE(a.size() == 2);
  CHECK(a[0].config["n"] == 1);
  CHECK(a[1].config["n"] == 2);
  CHECK(list.next_batch("local", 0).empty());  // no room: nothing
  CHECK(list.next_batch("pixel", 4).empty());  // a board without trials
  const auto b = list.next_batch("pi5", 10);
  REQUIRE(b.size() == 2);
  CHECK(b[0].board == "pi5");
  CHECK(list.next_batch("pi5", 10).empty());
  CHECK_FALSE(list.done());  // local's third is still to come
  a = list.next_batch("local", 10);
  REQUIRE(a.size() == 1);
  CHECK(a[0].config["n"] == 3);
  CHECK(list.done());
  CHECK(list.planned() == size_t{5});
}

TEST_CASE("A fixed list counts the results it is told and is not changed by them", "[search]") {
  search::FixedList list(trials("local", 2));
  const auto batch = list.next_batch("local", 1);
  REQUIRE(batch.size() == 1);
  list.tell(batch[0], row("ok"));
  list.tell(batch[0], row("failed"));
  CHECK(list.results_ok() == 1);
  CHECK(list.results_failed() == 1);
  CHECK(list.next_batch("local", 5).size() == 1);
  CHECK(list.done());
}

TEST_CASE("A restored fixed list continues after what an earlier session proposed", "[search]") {
  search::FixedList list(two_boards());
  auto earlier = trials("local", 2);
  earlier.push_back(trials("pi5", 1)[0]);
  list.restore(earlier);
  const auto local = list.next_batch("local", 10);
  REQUIRE(local.size() == 1);
  CHECK(local[0].config["n"] == 3);
  const auto pi5 = list.next_batch("pi5", 10);
  REQUIRE(pi5.size() == 1);
  CHECK(pi5[0].config["n"] == 2);
  CHECK(list.done());
  // An empty list, or one fully restored, has nothing to do from the start.
  CHECK(search::FixedList({}).done());
  search::FixedList all(two_boards());
  all.restore(two_boards());
  CHECK(all.done());
  CHECK(all.next_batch("local", 10).empty());
}
