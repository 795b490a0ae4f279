#pragma once

namespace Switchboard {

/*!
    Keeps the C library's heap from giving memory back to the kernel after every
    large message. With glibc's defaults each buffer of 128 KiB or more is a fresh
    mmap() (and the heap top is trimmed past 128 KiB), so every 64 KiB echo paid
    page faults for its buffers: a quarter of the server's time (perf), 441 vs
    1,070 MiB/s. Buffers up to 4 MiB now come from the heap, and up to 16 MiB stays
    free at its top. An explicit GLIBC_TUNABLES wins. Does nothing elsewhere.
*/
void tuneAllocator();

/*!
    Hands free heap pages back to the kernel. The front door calls it once a burst
    of connections has gone, so RSS does not look like a leak. Does nothing where
    the C library offers no such call.
*/
void releaseFreeHeap();

} // namespace Switchboard
