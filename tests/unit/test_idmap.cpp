// runtime/idmap: /etc/subuid parsing, the map layout, and its two renderings.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "runtime/idmap.hpp"

using namespace cage::idmap;

namespace {

constexpr std::uint32_t u32_max = std::numeric_limits<std::uint32_t>::max();
// 4294967295 is (uid_t)-1, never a valid id: no map may reach it inside or outside.
constexpr std::uint64_t last_valid_id = u32_max - 1ULL;

// What every map must satisfy, whatever the inputs.
void check_invariants(const std::vector<Range>& map, std::uint32_t container_id, std::uint32_t host_id,
                      std::optional<SubordinateRange> range)
{
    CAPTURE(container_id);
    CAPTURE(host_id);
    REQUIRE_FALSE(map.empty());
    std::uint64_t total = 0;
    int container_entries = 0;
    for (std::size_t i = 0; i < map.size(); ++i) {
        const auto& entry = map[i];
        CAPTURE(i);
        CHECK(entry.count > 0);
        CHECK(std::uint64_t{entry.inside} + entry.count - 1 <= last_valid_id);
        CHECK(std::uint64_t{entry.outside} + entry.count - 1 <= last_valid_id);
        if (i > 0)  // sorted by inside id and never overlapping inside
            CHECK(std::uint64_t{map[i - 1].inside} + map[i - 1].count <= entry.inside);
        if (entry.inside == container_id) {
            ++container_entries;
            CHECK(entry == Range{container_id, host_id, 1});
        } else {
            // Every other id comes from the subordinate range, and stays within it.
            REQUIRE(range.has_value());
            CHECK(entry.outside >= range->start);
            CHECK(std::uint64_t{entry.outside} + entry.count <= std::uint64_t{range->start} + range->count);
            CHECK((std::uint64_t{entry.inside} + entry.count <= container_id || entry.inside > container_id));
        }
        total += entry.count;
    }
    CHECK(container_entries == 1);
    // Outside, the subordinate entries never overlap each other.
    for (std::size_t i = 0; i < map.size(); ++i)
        for (std::size_t j = i + 1; j < map.size(); ++j) {
            if (map[i].inside == container_id || map[j].inside == container_id)
                continue;
            bool disjoint = std::uint64_t{map[i].outside} + map[i].count <= map[j].outside ||
                            std::uint64_t{map[j].outside} + map[j].count <= map[i].outside;
            CHECK(disjoint);
        }
    if (range)
        CHECK(total <= std::uint64_t{range->count} + 1);
}

}  // namespace

TEST_CASE("idmap: a subordinate range is found by user name")
{
    CHECK(find_subordinate_range("alice:100000:65536\n", "alice", 1000) == SubordinateRange{100000, 65536});
    // The last line needs no newline.
    CHECK(find_subordinate_range("alice:100000:65536", "alice", 1000) == SubordinateRange{100000, 65536});
    // Names are matched whole, never as prefixes.
    CHECK_FALSE(find_subordinate_range("alice2:1:2\nalic:3:4\n", "alice", 1000).has_value());
    CHECK_FALSE(find_subordinate_range("ALICE:1:2\n", "alice", 1000).has_value());
}

TEST_CASE("idmap: a subordinate range is found by numeric uid")
{
    CHECK(find_subordinate_range("1000:200000:65536\n", "alice", 1000) == SubordinateRange{200000, 65536});
    CHECK(find_subordinate_range("1000:200000:65536\n", "", 1000) == SubordinateRange{200000, 65536});
    CHECK(find_subordinate_range("0:5:6\n", "root", 0) == SubordinateRange{5, 6});
    // Another uid's line does not match, nor a uid written differently.
    CHECK_FALSE(find_subordinate_range("1001:200000:65536\n", "alice", 1000).has_value());
    CHECK_FALSE(find_subordinate_range("01000:200000:65536\n", "alice", 1000).has_value());
}

TEST_CASE("idmap: an unknown user (no name) never matches an empty owner")
{
    CHECK_FALSE(find_subordinate_range(":100000:65536\n", "", 1000).has_value());
    CHECK_FALSE(find_subordinate_range("", "alice", 1000).has_value());
    CHECK_FALSE(find_subordinate_range("\n\n\n", "alice", 1000).has_value());
}

TEST_CASE("idmap: comments and malformed lines are skipped")
{
    const char* file =
        "# alice:1:1 in a comment\n"
        "alice\n"
        "alice:\n"
        "alice:100000\n"
        "alice::65536\n"
        "alice:100000:\n"
        "alice:x:5\n"
        "alice:100000:y\n"
        "alice:-1:5\n"
        "alice:1:-5\n"
        "alice: 100000:65536\n"
        "alice:100000:65536 \n"
        "alice:100000:65536:extra\n"
        "alice:4294967296:1\n"
        "alice:1:4294967296\n"
        "alice:10:0\n"
        "alice:300000:10\n";
    CHECK(find_subordinate_range(file, "alice", 1000) == SubordinateRange{300000, 10});
    // A CRLF line is not a valid line (the count does not parse).
    CHECK_FALSE(find_subordinate_range("alice:100000:65536\r\n", "alice", 1000).has_value());
}

TEST_CASE("idmap: a range whose end overflows 32 bits is rejected")
{
    CHECK_FALSE(find_subordinate_range("eve:4294967000:1000\n", "eve", 1).has_value());
    CHECK_FALSE(find_subordinate_range("eve:4294901760:65536\n", "eve", 1).has_value());  // end = 2^32
    CHECK_FALSE(find_subordinate_range("eve:4294967295:1\n", "eve", 1).has_value());
    // start + count == 2^32 - 1: the range ends at 4294967294, the last valid id.
    CHECK(find_subordinate_range("eve:4294901760:65535\n", "eve", 1) == SubordinateRange{4294901760U, 65535});
    CHECK(find_subordinate_range("eve:0:4294967295\n", "eve", 1) == SubordinateRange{0, 4294967295U});
    // An overflowing line is skipped, and a later good line is still found.
    CHECK(find_subordinate_range("eve:4294967000:1000\neve:100000:65536\n", "eve", 1) ==
          SubordinateRange{100000, 65536});
}

TEST_CASE("idmap: the first matching line wins")
{
    CHECK(find_subordinate_range("eve:1:2\neve:3:4\n", "eve", 1) == SubordinateRange{1, 2});
    CHECK(find_subordinate_range("1:5:6\neve:3:4\n", "eve", 1) == SubordinateRange{5, 6});
    CHECK(find_subordinate_range("eve:3:4\n1:5:6\n", "eve", 1) == SubordinateRange{3, 4});
    CHECK(find_subordinate_range("bob:9:9\neve:3:4\nbob:1:1\n", "eve", 1) == SubordinateRange{3, 4});
}

TEST_CASE("idmap: without a range only the one id is mapped")
{
    CHECK(build_map(1000, 1001, std::nullopt) == std::vector<Range>{{1000, 1001, 1}});
    CHECK(build_map(0, 1000, std::nullopt) == std::vector<Range>{{0, 1000, 1}});
    CHECK(build_map(4294967294U, 0, std::nullopt) == std::vector<Range>{{4294967294U, 0, 1}});
}

TEST_CASE("idmap: uid 1000 with the usual range: ids below and above go into the range")
{
    const std::uint32_t host = 1234;
    auto map = build_map(1000, host, SubordinateRange{100000, 65536});
    CHECK(map == std::vector<Range>{{0, 100000, 1000}, {1000, host, 1}, {1001, 101000, 64536}});
    check_invariants(map, 1000, host, SubordinateRange{100000, 65536});
}

TEST_CASE("idmap: container root maps to the caller, the range starts at id 1")
{
    auto map = build_map(0, 1000, SubordinateRange{100000, 65536});
    CHECK(map == std::vector<Range>{{0, 1000, 1}, {1, 100000, 65536}});
    check_invariants(map, 0, 1000, SubordinateRange{100000, 65536});
}

TEST_CASE("idmap: a range smaller than the container id covers only the ids below")
{
    CHECK(build_map(1000, 5, SubordinateRange{100000, 10}) == std::vector<Range>{{0, 100000, 10}, {1000, 5, 1}});
    CHECK(build_map(1000, 5, SubordinateRange{100000, 1000}) ==
          std::vector<Range>{{0, 100000, 1000}, {1000, 5, 1}});
    CHECK(build_map(1000, 5, SubordinateRange{100000, 1001}) ==
          std::vector<Range>{{0, 100000, 1000}, {1000, 5, 1}, {1001, 101000, 1}});
}

TEST_CASE("idmap: no map entry ever reaches the invalid id 2^32-1")
{
    auto whole = build_map(10, 7, SubordinateRange{0, 4294967295U});
    REQUIRE(whole.size() == 3);
    CHECK(whole[2] == Range{11, 10, 4294967294U - 10});
    check_invariants(whole, 10, 7, SubordinateRange{0, 4294967295U});

    auto top = build_map(4294967294U, 7, SubordinateRange{0, 4294967295U});
    CHECK(top == std::vector<Range>{{0, 0, 4294967294U}, {4294967294U, 7, 1}});

    auto near_top = build_map(4294967290U, 7, SubordinateRange{0, 4294967295U});
    REQUIRE(near_top.size() == 3);
    CHECK(near_top[2] == Range{4294967291U, 4294967290U, 4});
    check_invariants(near_top, 4294967290U, 7, SubordinateRange{0, 4294967295U});
}

TEST_CASE("idmap: map invariants over many container ids and ranges")
{
    const std::uint32_t ids[] = {0, 1, 2, 999, 1000, 1001, 65535, 65536, 65537, 100000, 4294967293U, 4294967294U};
    const SubordinateRange ranges[] = {
        {100000, 1}, {100000, 1000}, {100000, 65536}, {1, 4294967294U},
        {0, 4294967295U}, {4294901760U, 65535}, {2000000000U, 100000},
    };
    for (auto id : ids)
        for (auto range : ranges) {
            CAPTURE(range.start);
            CAPTURE(range.count);
            auto map = build_map(id, 4242, range);
            check_invariants(map, id, 4242, range);
            // As many ids as the range holds are mapped besides the container's own one,
            // unless the top of the id space cuts the range short.
            std::uint64_t total = 0;
            for (const auto& entry : map)
                total += entry.count;
            std::uint64_t room = last_valid_id + 1;  // ids 0 .. 2^32-2
            CHECK(total == std::min<std::uint64_t>(std::uint64_t{range.count} + 1, room));
        }
}

TEST_CASE("idmap: format_map is what /proc/PID/uid_map takes")
{
    CHECK(format_map({}) == "");
    CHECK(format_map({{1000, 1001, 1}}) == "1000 1001 1\n");
    CHECK(format_map({{0, 100000, 1000}, {1000, 1001, 1}, {1001, 101000, 64536}}) ==
          "0 100000 1000\n1000 1001 1\n1001 101000 64536\n");
    CHECK(format_map({{4294967294U, 4294967294U, 1}}) == "4294967294 4294967294 1\n");
}

TEST_CASE("idmap: helper_arguments is what newuidmap takes: PID then triples")
{
    std::vector<Range> map{{0, 100000, 1000}, {1000, 1001, 1}};
    CHECK(helper_arguments(42, map) == std::vector<std::string>{"42", "0", "100000", "1000", "1000", "1001", "1"});
    CHECK(helper_arguments(7, {}) == std::vector<std::string>{"7"});
    CHECK(helper_arguments(4194304, {{4294967294U, 1, 1}}) ==
          std::vector<std::string>{"4194304", "4294967294", "1", "1"});
}

namespace {

// Where MAP sends ID, if anywhere (ID as the "inside" column).
std::optional<std::uint64_t> image_of(const std::vector<Range>& map, std::uint64_t id)
{
    for (const auto& range : map)
        if (id >= range.inside && id < std::uint64_t{range.inside} + range.count)
            return std::uint64_t{range.outside} + (id - range.inside);
    return std::nullopt;
}

}  // namespace

TEST_CASE("idmap: a bind map shows host root as the container user and keeps the range's own ids")
{
    const SubordinateRange range{1'000'000'000, 65536};
    CHECK(bind_map(1000, range) == std::vector<Range>{{0, 1'000'001'000, 1},
                                                       {1'000'000'000, 1'000'000'000, 1000},
                                                       {1'000'001'001, 1'000'001'001, 64535}});
    CHECK(bind_map(0, range) == std::vector<Range>{{0, 1'000'000'000, 1}, {1'000'000'001, 1'000'000'001, 65535}});
    CHECK(bind_map(65535, range) == std::vector<Range>{{0, 1'000'065'535, 1}, {1'000'000'000, 1'000'000'000, 65535}});
    for (std::uint32_t id : {0U, 1U, 999U, 1000U, 65534U, 65535U}) {
        CAPTURE(id);
        auto map = bind_map(id, range);
        CHECK(image_of(map, 0) == range.start + id);
        // Every other id of the range is itself; the container user's own host id is nobody's
        // on disk (no two disk ids may show as one), and so is every id outside the range.
        for (std::uint64_t other : {0ULL, 1ULL, 1000ULL, 1001ULL, 65535ULL})
            if (other != id)
                CHECK(image_of(map, range.start + other) == range.start + other);
        CHECK_FALSE(image_of(map, range.start + id).has_value());
        CHECK_FALSE(image_of(map, 1000).has_value());
        CHECK_FALSE(image_of(map, range.start + range.count).has_value());
        // The kernel takes no two ranges that overlap on either side.
        for (std::size_t a = 0; a < map.size(); ++a)
            for (std::size_t b = a + 1; b < map.size(); ++b) {
                auto disjoint = [](std::uint64_t s1, std::uint64_t n1, std::uint64_t s2, std::uint64_t n2) {
                    return s1 + n1 <= s2 || s2 + n2 <= s1;
                };
                CHECK(disjoint(map[a].inside, map[a].count, map[b].inside, map[b].count));
                CHECK(disjoint(map[a].outside, map[a].count, map[b].outside, map[b].count));
            }
    }
}
