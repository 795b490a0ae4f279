#include "platform/allocator.h"

#include <cstdlib>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace Switchboard {

void tuneAllocator()
{
#ifdef __GLIBC__
    if (std::getenv("GLIBC_TUNABLES"))
        return;
    ::mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    ::mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
#endif
}

void releaseFreeHeap()
{
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
}

} // namespace Switchboard
