#pragma once

#include "websocket/frame.h"
#include "websocket/sessioninfo.h"
#include "websocket/websockethandler.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

class QThread;

namespace Switchboard {

class Counter;
class Histogram;
class Metrics;
class SessionHost;
template<typename T> class Family;

/*! Heartbeat and size limits applied to every session. */
struct HubSettings
{
    std::chrono::milliseconds pingInterval{10'000}; //!< 0 = no pings
    std::chrono::milliseconds idleTimeout{60'000}; //!< 0 = never
    qint64 maxMessageSize = 16 * 1024 * 1024;
    qint64 maxSendBuffer = 8 * 1024 * 1024; //!< unsent bytes before a peer is a slow consumer
    std::chrono::milliseconds statsInterval{250}; //!< how often statsChanged() may fire
    std::chrono::milliseconds closeGrace{2'000}; //!< wait for the peer's close frame
    /*!
        Event loops the sessions (and the connections they come from) are spread
        over: 1 = the hub's own thread, as a single-threaded server; more = that
        many worker threads, each with its own SessionHost.
    */
    int workers = 1;
};

/*! Which sessions a broadcast reaches. */
struct BroadcastFilter
{
    QByteArray path; //!< only sessions on this path; empty = every path
    quint64 exceptId = 0; //!< skip this session (0 = none)
};

/*!
    The registry of live sessions: the only way the rest of the app (admin
    routes, console, cluster, topics, handlers) reaches them, by a stable
    integer id unique in the process.

    The sessions themselves live in SessionHosts, one per worker thread
    (HubSettings::workers; with one worker it is the hub's own thread). The
    hub knows which host has which session and carries each call there:

    \list
    \li On the session's own thread a call runs at once.
    \li On the hub's thread (the main thread), calls that answer something
        (sessions(), session(), close(), broadcast()) wait for the hosts,
        which never wait for the hub, so the answer is exact.
    \li On any other worker thread a call is queued to the host and returns
        at once: send() and close() say whether the session existed,
        broadcast() how many it reached on the calling worker. sessions() and
        session() may not be called there (it would mean one worker waiting
        for another): they stop the process with a message.
    \endlist

    Broadcasts and sends encode the Frame once (Frame is immutable and safe
    to share) and post that same frame to each host, which fans it out to
    its own sessions. count() is an atomic, right from any thread.

    Signals: sessionOpened, sessionClosed, statsChanged (batched per host, at
    most once per statsInterval), frameReceived and frameSent are emitted on
    the session's thread, so receivers on other threads get them queued, in
    order per session. countChanged and drained are emitted on the hub's
    thread. The hub counts sessions, messages, broadcasts, round trips and
    closes in the Metrics it is given (thread-safe, see Metrics).
*/
class Hub final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Hub)

public:
    /*!
        Counts into \a metrics, which must outlive the hub; null = a registry of its
        own. Starts settings.workers worker threads (none for one worker).
    */
    explicit Hub(HubSettings settings = {}, Metrics *metrics = nullptr, QObject *parent = nullptr);
    /*! Closes nothing: deletes every host (and its sessions) on its thread, then stops the threads. */
    ~Hub() override;

    const HubSettings &settings() const { return m_settings; }
    /*! The registry this hub, and the server and cluster on it, count in. */
    Metrics &metrics() const { return *m_metrics; }
    /*! One per worker, in worker order; fixed for the hub's life. */
    const QList<SessionHost *> &hosts() const { return m_hosts; }
    /*! The host running on the calling thread, or null (the main thread of a multi-worker hub). */
    SessionHost *currentHost() const;

    /*! Open and closing sessions, on every worker. Any thread. */
    int count() const { return m_count.load(std::memory_order_relaxed); }
    /*! Every session, sorted by id. The hub's thread (or a one-worker hub's host's) only. */
    QList<SessionInfo> sessions() const;
    /*! One session's figures; nullopt if it is gone. As sessions(). */
    std::optional<SessionInfo> session(quint64 id) const;

    /*!
        Hands \a frame to every matching open session's info() callback and
        returns how many sessions it reached (see the class for which thread
        waits): closing sessions and sessions whose connection would not take
        the bytes are not counted. The frame is encoded once for all of them.
    */
    int broadcast(const Frame &frame, const BroadcastFilter &filter = {});
    /*!
        Like broadcast(), but without broadcastRequested(): for frames that
        arrive from another instance, which must not be relayed again.
    */
    int broadcastLocal(const Frame &frame, const BroadcastFilter &filter = {});
    /*!
        Hands \a frame to one session's info(). On the session's thread: whether
        it took it; elsewhere it is queued: whether the session exists.
    */
    bool send(quint64 id, const Frame &frame);
    /*!
        Hands \a frame to the info() of each session in \a ids that is still
        there, as a broadcast does (one message for all, counted once per
        path), but without broadcastSent(): a topic's subscribers. Never
        waits; returns how many of \a ids exist.
    */
    int send(const QList<quint64> &ids, const Frame &frame);
    /*! Queues \a message for session \a id's info(). Safe from any thread. */
    void post(quint64 id, const QVariant &message);
    /*!
        Closes session \a id with \a code; false if it is gone (or, where the
        answer is waited for, closing already) or no server may send \a code.
    */
    bool close(quint64 id, quint16 code = 4000,
               const QString &reason = QStringLiteral("closed by operator"));
    /*! Closes every session with 1001; drained() fires when none is left. The hub's thread. */
    void shutdown();
    bool isShuttingDown() const { return m_shuttingDown.load(std::memory_order_relaxed); }

    /*! Milliseconds on one monotonic clock that every host shares. Any thread. */
    qint64 nowMs() const { return m_clock.elapsed(); }

    /*!
        Stops the process with a message naming \a where when the calling
        thread is not \a object's: the affinity check at the entry points of
        the hub, its hosts and their sessions. Always on (a release build too):
        a call from the wrong thread is a data race, not a slow path.
    */
    static void checkThread(const QObject *object, const char *where);

Q_SIGNALS:
    void sessionOpened(const Switchboard::SessionInfo &info);
    void sessionClosed(quint64 id, const Switchboard::TerminateReason &reason);
    /*!
        Batched: at most once per statsInterval per worker, with the sessions that
        changed since a slot was first connected (without one, nothing is collected).
    */
    void statsChanged(const QList<Switchboard::SessionInfo> &changed);
    void frameReceived(quint64 id, const Switchboard::Frame &frame);
    void frameSent(quint64 id, const Switchboard::Frame &frame);
    /*! Once per broadcast, when every host has done its part, with the total reached. */
    void broadcastSent(const Switchboard::Frame &frame, int delivered);
    /*!
        A broadcast started on this instance (not by broadcastLocal()); cluster mode
        relays it. Emitted before the local fan-out, so other instances start theirs first.
    */
    void broadcastRequested(const Switchboard::Frame &frame,
                            const Switchboard::BroadcastFilter &filter);
    /*! Coalesced: after one or more opens and closes, with the count then. */
    void countChanged(int count);
    void drained();

private:
    friend class SessionHost; // registers its sessions and reports their ends
    friend class Session; // counts round trips

    quint64 registerSession(SessionHost *host);
    void unregisterSession(quint64 id);
    SessionHost *hostOf(quint64 id) const;
    /*! Emits countChanged() on the hub's thread, once for any number of changes meanwhile. */
    void noteCountChanged();
    void hostDrained();
    /*! Whether statsChanged() has a receiver (else hosts collect nothing for it). */
    bool wantsStats() const;
    /*! Whether the calling thread may wait for hosts (the hub's thread). */
    bool mayWait() const;
    void countClose(const TerminateReason &reason);

    HubSettings m_settings;
    std::unique_ptr<Metrics> m_ownMetrics; // when none was given
    Metrics *m_metrics;
    Family<Counter> *m_sessionsOpened;
    Family<Counter> *m_closes;
    Counter *m_broadcasts;
    Counter *m_broadcastRecipients;
    Histogram *m_pingRtt;
    QElapsedTimer m_clock; // started in the constructor, only read after
    QList<SessionHost *> m_hosts;
    std::vector<std::unique_ptr<QThread>> m_threads; // one per host; none for one worker
    std::atomic<quint64> m_nextId{1};
    std::atomic<int> m_count{0};
    std::atomic<bool> m_countPending{false};
    std::atomic<bool> m_shuttingDown{false};
    std::atomic<int> m_drainedHosts{0};
    mutable std::mutex m_mutex; // guards m_where
    QHash<quint64, SessionHost *> m_where;
};

} // namespace Switchboard
