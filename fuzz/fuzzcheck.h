#pragma once

// FUZZ_CHECK(condition): an invariant of a fuzz target. When it breaks, the
// target aborts so libFuzzer keeps the input that broke it.

#include <cstdio>
#include <cstdlib>

namespace FuzzCheck {

[[noreturn]] inline void fail(const char *file, int line, const char *what)
{
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    std::abort();
}

} // namespace FuzzCheck

#define FUZZ_CHECK(condition) \
    do { \
        if (!(condition)) \
            FuzzCheck::fail(__FILE__, __LINE__, #condition); \
    } while (false)
