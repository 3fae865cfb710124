#include <doctest/doctest.h>

#include "runtime/idmap.hpp"

using namespace cage::idmap;

TEST_CASE("subordinate ranges are found by name or uid, malformed lines skipped")
{
    const char* file = "# comment\nbroken\nalice:x:5\nalice:100000:65536\nbob:200000:1000\n1001:300000:10\n";
    CHECK(find_subordinate_range(file, "alice", 1000) == SubordinateRange{100000, 65536});
    CHECK(find_subordinate_range(file, "bob", 999) == SubordinateRange{200000, 1000});
    CHECK(find_subordinate_range(file, "carol", 1001) == SubordinateRange{300000, 10});
    CHECK_FALSE(find_subordinate_range(file, "dave", 4242).has_value());
    CHECK_FALSE(find_subordinate_range("eve:4294967000:1000\n", "eve", 1).has_value());
    CHECK_FALSE(find_subordinate_range("eve:10:0\n", "eve", 1).has_value());
    CHECK(find_subordinate_range("eve:1:2\neve:3:4\n", "eve", 1) == SubordinateRange{1, 2});
}

TEST_CASE("the container user maps to the caller; the other ids into the range")
{
    CHECK(build_map(1000, 1001, std::nullopt) == std::vector<Range>{{1000, 1001, 1}});
    CHECK(build_map(1000, 1001, SubordinateRange{100000, 65536}) ==
          std::vector<Range>{{0, 100000, 1000}, {1000, 1001, 1}, {1001, 101000, 64536}});
    CHECK(build_map(0, 1001, SubordinateRange{100000, 65536}) ==
          std::vector<Range>{{0, 1001, 1}, {1, 100000, 65536}});
    CHECK(build_map(1000, 5, SubordinateRange{100000, 10}) ==
          std::vector<Range>{{0, 100000, 10}, {1000, 5, 1}});
    auto high = build_map(10, 7, SubordinateRange{0, 4294967295U});
    REQUIRE(high.size() == 3);
    CHECK(high[2].inside + high[2].count - 1 <= 4294967294U);
}

TEST_CASE("maps format as the kernel and newuidmap take them")
{
    std::vector<Range> map{{0, 100000, 1000}, {1000, 1001, 1}};
    CHECK(format_map(map) == "0 100000 1000\n1000 1001 1\n");
    CHECK(helper_arguments(42, map) == std::vector<std::string>{"42", "0", "100000", "1000", "1000", "1001", "1"});
}
