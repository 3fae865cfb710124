// A fresh directory under /tmp for one test, removed with everything in it afterwards.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

struct TempDir {
    std::string path;
    explicit TempDir(const std::string& prefix = "cage-unit-image")
    {
        std::string name = "/tmp/" + prefix + ".XXXXXX";
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};
