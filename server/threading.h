#pragma once

#include <QtCore/QMetaObject>
#include <QtCore/QObject>
#include <QtCore/QThread>

#include <type_traits>
#include <utility>

// ThreadSanitizer sees no order in Qt's event queue: Debian's Qt is not built with
// it, and QMutex waits on futexes, which it does not watch. So every call this file
// carries to another thread tells it the order Qt keeps: the caller releases the
// receiving object before posting, and the call acquires it before it runs, so what
// the caller did before posting happens before the call. The call's captures are
// written while Qt posts it, after the release; those writes are hidden from the
// sanitizer (they are ordered by Qt's queue like the rest). Each edge goes from a
// poster to the receiver only, so a race between two threads that merely post to
// each other is still seen. Without a sanitizer all of this compiles to nothing.
#if defined(__SANITIZE_THREAD__)
#define SWITCHBOARD_TSAN_ANNOTATE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWITCHBOARD_TSAN_ANNOTATE 1
#endif
#endif

#ifdef SWITCHBOARD_TSAN_ANNOTATE
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
extern "C" void AnnotateIgnoreWritesBegin(const char *file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char *file, int line);
#endif

#include <future>

namespace Switchboard::Threading {

/*!
    Marks, for ThreadSanitizer, that what this thread did so far happens before
    whatever follows a takeOver() of the same \a token on another thread, when
    the two are ordered by something it cannot see (a QSemaphore).
*/
inline void handOver(const void *token)
{
#ifdef SWITCHBOARD_TSAN_ANNOTATE
    __tsan_release(const_cast<void *>(token));
#else
    Q_UNUSED(token);
#endif
}

/*! The other half of handOver(). */
inline void takeOver(const void *token)
{
#ifdef SWITCHBOARD_TSAN_ANNOTATE
    __tsan_acquire(const_cast<void *>(token));
#else
    Q_UNUSED(token);
#endif
}

/*! Whether the calling thread is \a object's. */
inline bool isCurrent(const QObject *object)
{
    return object->thread() == QThread::currentThread();
}

/*! Runs \a run on \a context's thread later (queued, even from that thread). */
template<typename Run> void post(QObject *context, Run &&run)
{
    handOver(context);
#ifdef SWITCHBOARD_TSAN_ANNOTATE
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
    QMetaObject::invokeMethod(
            context,
            [context, run = std::forward<Run>(run)]() mutable {
                takeOver(context);
                run();
            },
            Qt::QueuedConnection);
#ifdef SWITCHBOARD_TSAN_ANNOTATE
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}

/*!
    Runs \a run on \a context's thread and returns its result: at once on that
    thread, else waiting for it. Only for a thread that \a context's thread never
    waits for (see Hub), or the two deadlock.
*/
template<typename Run> auto runAndWait(QObject *context, Run &&run)
{
    using Result = std::invoke_result_t<Run &>;
    if (isCurrent(context))
        return run();
    std::promise<Result> done;
    post(context, [&run, &done] {
        if constexpr (std::is_void_v<Result>) {
            run();
            done.set_value();
        } else {
            done.set_value(run());
        }
    });
    return done.get_future().get();
}

} // namespace Switchboard::Threading
