#pragma once

#include "websocket/frame.h"
#include "websocket/sessioninfo.h"
#include "websocket/websockethandler.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <array>
#include <chrono>
#include <memory>
#include <optional>

class QWebSocket;

namespace Switchboard {

class Connection;
class Counter;
class Gauge;
class Histogram;
class Metrics;
class Session;
struct SessionSetup;
template<typename T> class Family;

/*!
    The counters of one WebSocket path, looked up once when a session on it
    opens: counting a message is then an add through a pointer.
*/
struct PathMetrics
{
    Gauge *open = nullptr;
    Counter *messagesIn = nullptr;
    Counter *messagesOut = nullptr;
    Counter *bytesIn = nullptr;
    Counter *bytesOut = nullptr;
};

/*! Heartbeat and size limits applied to every session. */
struct HubSettings
{
    std::chrono::milliseconds pingInterval{10'000}; //!< 0 = no pings
    std::chrono::milliseconds idleTimeout{60'000}; //!< 0 = never
    qint64 maxMessageSize = 16 * 1024 * 1024;
    qint64 maxSendBuffer = 8 * 1024 * 1024; //!< unsent bytes before a peer is a slow consumer
    std::chrono::milliseconds statsInterval{250}; //!< how often statsChanged() may fire
    std::chrono::milliseconds closeGrace{2'000}; //!< wait for the peer's close frame
};

/*! Which sessions a broadcast reaches. */
struct BroadcastFilter
{
    QByteArray path; //!< only sessions on this path; empty = every path
    quint64 exceptId = 0; //!< skip this session (0 = none)
};

/*!
    Tracks live sessions by a stable integer id and is the only way the rest of
    the app (admin routes, GUI) reaches them.

    One QTimer drives every session's heartbeat: each session is pinged every
    pingInterval, dropped after two unanswered pings, and closed after
    idleTimeout without receiving anything. All functions are for the hub's
    own thread, except post(), which any thread may call.

    It counts sessions, messages, broadcasts, round trips and closes in the
    Metrics it is given (or in one of its own), which the Server and the
    Cluster built on it count in too.
*/
class Hub final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Hub)

public:
    /*! Counts into \a metrics, which must outlive the hub; null = a registry of its own. */
    explicit Hub(HubSettings settings = {}, Metrics *metrics = nullptr, QObject *parent = nullptr);
    ~Hub() override;

    const HubSettings &settings() const { return m_settings; }
    /*! The registry this hub, and the server and cluster on it, count in. */
    Metrics &metrics() const { return *m_metrics; }

    /*!
        Makes a session of an upgraded \a socket over \a connection (the
        session owns both from now on); returns the new session's id.
    */
    quint64 adopt(std::unique_ptr<QWebSocket> socket, Connection *connection,
                  std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup);

    int count() const { return int(m_sessions.size()); }
    QList<SessionInfo> sessions() const;
    std::optional<SessionInfo> session(quint64 id) const;

    /*!
        Hands \a frame to every matching open session's info() callback and
        returns how many sessions it reached: closing sessions (the operator's
        close, the peer's Close, a refused peer) and sessions whose connection
        would not take the bytes are not counted. The frame is encoded once for
        all of them.
    */
    int broadcast(const Frame &frame, const BroadcastFilter &filter = {});
    /*!
        Like broadcast(), but without broadcastRequested(): for frames that
        arrive from another instance, which must not be relayed again.
    */
    int broadcastLocal(const Frame &frame, const BroadcastFilter &filter = {});
    /*! Hands \a frame to one session's info(); false if it is gone. */
    bool send(quint64 id, const Frame &frame);
    /*!
        Hands \a frame to the info() of each session in \a ids that is still
        there, as a broadcast does (one message for all, counted once per
        path), but without broadcastSent(): a topic's subscribers. Returns how
        many it reached.
    */
    int send(const QList<quint64> &ids, const Frame &frame);
    /*! Queues \a message for session \a id's info(). Safe from any thread. */
    void post(quint64 id, const QVariant &message);
    /*! Closes session \a id with \a code; false if it is gone or no server may send \a code. */
    bool close(quint64 id, quint16 code = 4000,
               const QString &reason = QStringLiteral("closed by operator"));
    /*! Closes every session with 1001; drained() fires when none is left. */
    void shutdown();

    qint64 nowMs() const { return m_clock.elapsed(); }

Q_SIGNALS:
    void sessionOpened(const Switchboard::SessionInfo &info);
    void sessionClosed(quint64 id, const Switchboard::TerminateReason &reason);
    /*!
        Batched: at most once per statsInterval, with the sessions that changed
        since a slot was first connected (without one, nothing is collected).
    */
    void statsChanged(const QList<Switchboard::SessionInfo> &changed);
    void frameReceived(quint64 id, const Switchboard::Frame &frame);
    void frameSent(quint64 id, const Switchboard::Frame &frame);
    void broadcastSent(const Switchboard::Frame &frame, int delivered);
    /*!
        A broadcast started on this instance (not by broadcastLocal()); cluster mode
        relays it. Emitted before the local fan-out, so other instances start theirs first.
    */
    void broadcastRequested(const Switchboard::Frame &frame,
                            const Switchboard::BroadcastFilter &filter);
    void countChanged(int count);
    void drained();

private:
    friend class Session; // reports frames, stats and its end straight to the hub

    void onSessionFinished(quint64 id, const TerminateReason &reason);
    void markDirty(quint64 id);
    void flushStats();
    void heartbeat();
    void updateTimer();
    void closeStarted(quint64 id);
    void enforceCloseGrace();

    // Metrics. A broadcast collects what its sessions send in a Fanout and adds it
    // once per path at the end: 10,000 recipients cost one add, not 10,000.
    struct Fanout
    {
        struct Entry
        {
            const PathMetrics *path = nullptr;
            quint64 messages = 0;
            quint64 bytes = 0;
        };
        std::array<Entry, 8> entries; // paths in one broadcast; more are counted directly
        int used = 0;
    };
    /*!
        Hands \a message to the info() of every session in \a sessions that
        \a accept(session) takes, collecting the counts in one Fanout; how many
        it reached.
    */
    template<typename Accept>
    int fanOut(const QList<Session *> &sessions, const QVariant &message, Accept accept);
    const PathMetrics *pathMetrics(const QByteArray &path);
    void countSent(const PathMetrics *path, quint64 bytes);
    void countClose(const TerminateReason &reason);

    HubSettings m_settings;
    std::unique_ptr<Metrics> m_ownMetrics; // when none was given
    Metrics *m_metrics;
    QHash<QByteArray, PathMetrics> m_pathMetrics;
    Family<Counter> *m_sessionsOpened;
    Family<Counter> *m_closes;
    Counter *m_broadcasts;
    Counter *m_broadcastRecipients;
    Histogram *m_pingRtt;
    Fanout *m_fanout = nullptr; // the broadcast under way, if any
    QHash<quint64, Session *> m_sessions;
    quint64 m_nextId = 1;
    QElapsedTimer m_clock;
    QTimer m_heartbeat;
    QTimer m_statsTimer;
    QSet<quint64> m_dirty;
    QHash<quint64, qint64> m_closeDeadlines; // closing session -> when to cut it off (ms)
    QTimer m_closeGraceTimer;
    bool m_shuttingDown = false;
};

} // namespace Switchboard
