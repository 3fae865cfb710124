// A fresh directory under /tmp for one test, removed with everything in it afterwards.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

struct TempDir {
    std::string path;
    explicit TempDir(const std::string& prefix = "cage-unit")
    {
        std::string name = "/tmp/" + prefix + ".XXXXXX";
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path operator/(std::string_view child) const { return std::filesystem::path(path) / child; }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};
