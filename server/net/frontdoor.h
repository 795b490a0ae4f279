#pragma once

#include "net/httpguard.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QSet>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QTcpServer>

#include <atomic>
#include <functional>
#include <optional>

namespace Switchboard {

class Connection;
class Counter;
class Gauge;
class Metrics;
template<typename T> class Family;

/*!
    The listening socket given to QAbstractHttpServer::bind(). Every accepted
    connection becomes a Connection, and QtHttpServer is given its
    ConnectionSocket, which only ever carries what the HTTP guard released.
    It enforces the connection cap (503 and close) and, with one timer for
    all connections, the header, body and keep-alive timeouts (408 / close).

    WebSocket upgrade requests never reach QtHttpServer: each goes to the
    upgrade handler (setUpgradeHandler()), which refuses or accepts it on
    the Connection.

    It counts accepted connections, open ones (HTTP and upgraded to
    WebSocket) and refusals in the Metrics it is given.
*/
class FrontDoor final : public QTcpServer
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(FrontDoor)

public:
    using UpgradeHandler = std::function<void(Connection *, const RequestHead &)>;

    /*!
        Counts into \a metrics, which must outlive the front door. \a open counts the
        connections of every front door sharing HttpLimits::maxConnections (one per
        worker); null = a count of its own.
    */
    FrontDoor(const HttpLimits &limits, Metrics &metrics, std::atomic<int> *open = nullptr,
              QObject *parent = nullptr);
    ~FrontDoor() override;

    const HttpLimits &limits() const { return m_limits; }
    /*! Serves TLS on every connection accepted from now on (HTTPS and WSS). */
    void setTlsConfiguration(const QSslConfiguration &configuration);
    bool isTls() const { return m_tls.has_value(); }
    /*! Decides every WebSocket upgrade request (Server sets it). */
    void setUpgradeHandler(UpgradeHandler handler) { m_upgradeHandler = std::move(handler); }

    /*! This front door's open connections. */
    int connectionCount() const { return int(m_connections.size()); }
    /*!
        The open connection with this peer and local address. Unique: two open
        TCP connections to one listening port differ in one of the three.
    */
    Connection *connection(const QHostAddress &peerAddress, quint16 peerPort,
                           const QHostAddress &localAddress) const;
    qint64 nowMs() const { return m_clock.elapsed(); }

    /*!
        `switchboard_refusals_total{stage,status}` in \a metrics: the front door counts
        its refusals as stage "front_door", the Server its refused upgrades as "upgrade".
    */
    static Family<Counter> &refusals(Metrics &metrics);

Q_SIGNALS:
    /*! A request was refused before reaching the server (status 400, 408, 413, 431, 503...). */
    void refused(int status);

protected:
    void incomingConnection(qintptr handle) override;

private:
    friend class Connection;
    struct Endpoint
    {
        QHostAddress peer;
        QHostAddress local;
        quint16 peerPort = 0;
        bool operator==(const Endpoint &) const = default;
        friend size_t qHash(const Endpoint &key, size_t seed = 0)
        {
            return qHashMulti(seed, key.peer, key.local, key.peerPort);
        }
    };

    void track(Connection *connection);
    void untrack(Connection *connection);
    /*! \a connection became a WebSocket: it counts as one from now on. */
    void upgraded(Connection *connection);
    void requestUpgrade(Connection *connection, const RequestHead &head);
    /*! Hands QtHttpServer the socket a connection's first plain request arrives on. */
    void offerHttpSocket(QTcpSocket *socket);
    void refuseOverCapacity(qintptr handle);
    void sweep();

    HttpLimits m_limits;
    std::optional<QSslConfiguration> m_tls;
    UpgradeHandler m_upgradeHandler;
    QElapsedTimer m_clock;
    QSet<Connection *> m_connections;
    std::atomic<int> m_ownOpen{0};
    std::atomic<int> *m_open; // against maxConnections, shared by the workers' front doors
    QHash<Endpoint, Connection *> m_byEndpoint;
    QTimer m_sweep;
    QTimer m_trim;
    qsizetype m_peak = 0;
    Counter *m_accepted;
    Gauge *m_httpOpen;
    Gauge *m_webSocketOpen;
    Family<Counter> *m_refusals;
};

} // namespace Switchboard
