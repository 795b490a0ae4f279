#pragma once

// FUZZ_CHECK(condition): an invariant of a fuzz target. When it breaks, the
// target aborts so libFuzzer keeps the input that broke it.

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace FuzzCheck {

[[noreturn]] inline void fail(const char *file, int line, const char *what)
{
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    std::abort();
}

/*!
    The next number of a xorshift32 sequence seeded from the input: where the
    targets cut their input into reads, so the fuzzer can steer the cuts.
*/
inline uint32_t nextRandom(uint32_t &state)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

} // namespace FuzzCheck

#define FUZZ_CHECK(condition) \
    do { \
        if (!(condition)) \
            FuzzCheck::fail(__FILE__, __LINE__, #condition); \
    } while (false)
