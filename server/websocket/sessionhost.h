#pragma once

#include "websocket/frame.h"
#include "websocket/sessioninfo.h"
#include "websocket/websockethandler.h"

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <array>
#include <memory>
#include <optional>

class QWebSocket;

namespace Switchboard {

class Connection;
class Counter;
class Gauge;
class Hub;
class Session;
struct BroadcastFilter;
struct SessionSetup;

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

/*!
    The sessions of one worker (one event loop): it owns them, drives their
    heartbeat with one QTimer, cuts off closes that take too long, batches
    their figures for Hub::statsChanged(), and fans frames out to them.

    Every function is for the host's own thread (checked, see
    Hub::checkThread()); the rest of the process reaches a host's sessions
    only through the Hub, which posts to the right host. The Hub makes one
    host per worker.
*/
class SessionHost final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SessionHost)

public:
    /*! Made by \a hub, which outlives it; \a index is the worker's number. */
    SessionHost(Hub *hub, int index);
    ~SessionHost() override;

    Hub &hub() const { return *m_hub; }
    int index() const { return m_index; }

    /*!
        Makes a session of an upgraded \a socket over \a connection (the
        session owns both from now on); returns the new session's id.
    */
    quint64 adopt(std::unique_ptr<QWebSocket> socket, Connection *connection,
                  std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup);

    int count() const { return int(m_sessions.size()); }
    QList<SessionInfo> sessions() const;
    std::optional<SessionInfo> session(quint64 id) const;

    /*! Hub::broadcastLocal() on this host's sessions: how many it reached. */
    int broadcast(const Frame &frame, const BroadcastFilter &filter);
    /*! Hands \a frame to one session's info(); false if it is gone or did not take it. */
    bool send(quint64 id, const Frame &frame);
    /*! Hands \a frame to each of \a ids that is here, counted as one fan-out. */
    int send(const QList<quint64> &ids, const Frame &frame);
    /*! Hands \a message to session \a id's info(); false if it is gone. */
    bool deliver(quint64 id, const QVariant &message);
    /*! Starts closing session \a id; false if it is gone or closing already. */
    bool close(quint64 id, quint16 code, const QString &reason);
    /*! Closes every session with 1001 and reports to the hub once none is left. */
    void shutdown();

private:
    friend class Session; // reports frames, stats and its end straight to its host

    void onSessionFinished(quint64 id, const TerminateReason &reason);
    void markDirty(quint64 id);
    void flushStats();
    void heartbeat();
    void updateTimer();
    void closeStarted(quint64 id);
    void enforceCloseGrace();
    void checkThread(const char *where) const;

    // Metrics. A fan-out collects what its sessions send in a Fanout and adds it
    // once per path at the end: 10,000 recipients cost one add, not 10,000.
    struct Fanout
    {
        struct Entry
        {
            const PathMetrics *path = nullptr;
            quint64 messages = 0;
            quint64 bytes = 0;
        };
        std::array<Entry, 8> entries; // paths in one fan-out; more are counted directly
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

    Hub *m_hub;
    int m_index;
    QHash<QByteArray, PathMetrics> m_pathMetrics;
    Fanout *m_fanout = nullptr; // the fan-out under way, if any
    QHash<quint64, Session *> m_sessions;
    // Children, so that they move with the host to its worker's thread.
    QTimer m_heartbeat{this};
    QTimer m_statsTimer{this};
    QTimer m_closeGraceTimer{this};
    QSet<quint64> m_dirty;
    QHash<quint64, qint64> m_closeDeadlines; // closing session -> when to cut it off (ms)
    bool m_drainReported = false;
};

} // namespace Switchboard
