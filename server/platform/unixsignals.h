#pragma once

#include <QtCore/QObject>

class QSocketNotifier;

namespace Switchboard {

/*!
    Turns SIGINT and SIGTERM into a Qt signal on the event loop (self-pipe),
    so shutdown runs as ordinary code instead of inside a signal handler.
    Create at most one.
*/
class UnixSignalWatcher final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(UnixSignalWatcher)

public:
    explicit UnixSignalWatcher(QObject *parent = nullptr);
    ~UnixSignalWatcher() override;

Q_SIGNALS:
    void terminationRequested(int signalNumber);

private:
    void onReadable();

    QSocketNotifier *m_notifier = nullptr;
};

/*!
    Raises the soft limit on open files to the hard limit, so a server that
    allows thousands of connections is not stopped by the usual 1024.
    Returns the limit now in force.
*/
quint64 raiseOpenFileLimit();

/*!
    Keeps glibc's heap from giving memory back to the kernel after every large
    message. By default each buffer of 128 KiB or more is a fresh mmap() (and the
    heap top is trimmed past 128 KiB), so every 64 KiB echo paid page faults for its
    buffers: a quarter of the server's time (perf), 441 vs 1,070 MiB/s. Buffers
    up to 4 MiB now come from the heap, and up to 16 MiB stays free at its top;
    FrontDoor still calls malloc_trim() once a burst of connections has gone.
    An explicit GLIBC_TUNABLES wins. Does nothing on other C libraries.
*/
void tuneAllocator();

} // namespace Switchboard
