#include "net/frontdoor.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "net/connection.h"
#include "platform/allocator.h"

#include <QtNetwork/QSslSocket>

#include <algorithm>

namespace Switchboard {

FrontDoor::FrontDoor(const HttpLimits &limits, Metrics &metrics, std::atomic<int> *open,
                     QObject *parent)
    : QTcpServer(parent)
    , m_limits(limits)
    , m_open(open ? open : &m_ownOpen)
    , m_accepted(&metrics.counter("switchboard_connections_accepted_total",
                                  "TCP connections accepted (not counting those refused with 503).")
                          .get())
    , m_httpOpen(&metrics.gauge("switchboard_connections_open",
                                "Connections open now, by protocol (http, or websocket once "
                                "upgraded).",
                                {"protocol"})
                          .labels({"http"}))
    , m_webSocketOpen(&metrics.gauge("switchboard_connections_open", {}, {"protocol"})
                               .labels({"websocket"}))
    , m_refusals(&refusals(metrics))
{
    // Every refusal, wherever the front door's connections make it, goes through the signal.
    connect(this, &FrontDoor::refused, this, [this](int status) {
        m_refusals->labels({"front_door", QByteArray::number(status)}).add();
    });
    m_clock.start();
    using namespace std::chrono_literals;
    const auto shortest
            = std::min({m_limits.headerTimeout, m_limits.keepAliveTimeout, m_limits.bodyTimeout});
    m_sweep.setInterval(std::clamp<std::chrono::milliseconds>(shortest / 8, 10ms, 1000ms));
    connect(&m_sweep, &QTimer::timeout, this, &FrontDoor::sweep);

    // The C library keeps freed heap pages for reuse; after a burst of connections has
    // come and gone that looks like a leak in RSS. Hand them back once the burst is over.
    m_trim.setSingleShot(true);
    m_trim.setInterval(1s);
    connect(&m_trim, &QTimer::timeout, this, [this] {
        releaseFreeHeap();
        m_peak = m_connections.size();
    });
}

FrontDoor::~FrontDoor()
{
    // Connections still owned here go first: they untrack themselves from the sets.
    const auto owned = findChildren<Connection *>(Qt::FindDirectChildrenOnly);
    qDeleteAll(owned);
}

Family<Counter> &FrontDoor::refusals(Metrics &metrics)
{
    return metrics.counter("switchboard_refusals_total",
                           "Requests refused before a route or a session: by the front door "
                           "(503 over --max-connections, 400, 408, 413, 431, ...) or by the "
                           "WebSocket upgrade (401, 403, 429, ...), by status.",
                           {"stage", "status"});
}

void FrontDoor::setTlsConfiguration(const QSslConfiguration &configuration)
{
    m_tls = configuration;
}

Connection *FrontDoor::connection(const QHostAddress &peerAddress, quint16 peerPort,
                                  const QHostAddress &localAddress) const
{
    return m_byEndpoint.value(Endpoint{peerAddress, localAddress, peerPort});
}

void FrontDoor::incomingConnection(qintptr handle)
{
    // Taken before the connection exists, so that workers accepting at once never
    // go over the cap together.
    if (m_open->fetch_add(1, std::memory_order_relaxed) >= m_limits.maxConnections) {
        m_open->fetch_sub(1, std::memory_order_relaxed);
        refuseOverCapacity(handle);
        return;
    }
    Connection *connection = nullptr;
    if (m_tls) {
        auto *tls = new QSslSocket(this);
        if (!tls->setSocketDescriptor(handle)) {
            delete tls;
            m_open->fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        // The guard reads decrypted bytes; a peer that never completes the handshake
        // (plain HTTP on this port, say) fails it, or meets the header timeout.
        tls->setSslConfiguration(*m_tls);
        tls->startServerEncryption();
        connection = new Connection(tls, this);
    } else {
        connection = new Connection(handle, this);
    }
    track(connection);
    // QtHttpServer gets a socket when the connection's first plain request is released
    // (offerHttpSocket()): most connections to a WebSocket server only upgrade.
}

void FrontDoor::offerHttpSocket(QTcpSocket *socket)
{
    // QTcpServer emits pendingConnectionAvailable() from here, and QtHttpServer takes
    // the socket at once, before any bytes are released to it.
    addPendingConnection(socket);
}

void FrontDoor::refuseOverCapacity(qintptr handle)
{
    // Rare, and over TLS it must be encrypted: Qt's own socket answers this one.
    QTcpSocket *transport = m_tls ? new QSslSocket(this) : new QTcpSocket(this);
    if (!transport->setSocketDescriptor(handle)) {
        delete transport;
        return;
    }
    if (m_tls) {
        static_cast<QSslSocket *>(transport)->setSslConfiguration(*m_tls);
        static_cast<QSslSocket *>(transport)->startServerEncryption();
    }
    qCWarning(lcHttp, "connection limit (%d) reached; refusing %s with 503",
              m_limits.maxConnections, qPrintable(transport->peerAddress().toString()));
    connect(transport, &QTcpSocket::disconnected, transport, &QObject::deleteLater);
    transport->write(ConnectionGuard::errorResponse(503, "too many connections; try again later"));
    transport->disconnectFromHost();
    Q_EMIT refused(503);
}

void FrontDoor::requestUpgrade(Connection *connection, const RequestHead &head)
{
    if (m_upgradeHandler) {
        m_upgradeHandler(connection, head);
        return;
    }
    connection->refuseUpgrade(ConnectionGuard::errorResponse(404, "no WebSocket endpoints"));
}

void FrontDoor::track(Connection *connection)
{
    m_connections.insert(connection);
    m_accepted->add();
    m_httpOpen->add();
    m_byEndpoint.insert(
            Endpoint{connection->peerAddress(), connection->localAddress(), connection->peerPort()},
            connection);
    m_peak = qMax(m_peak, m_connections.size());
    connection->refreshDeadline();
    if (!m_sweep.isActive())
        m_sweep.start();
}

void FrontDoor::untrack(Connection *connection)
{
    if (!m_connections.remove(connection))
        return;
    m_open->fetch_sub(1, std::memory_order_relaxed);
    (connection->m_upgraded ? m_webSocketOpen : m_httpOpen)->sub();
    const Endpoint key{connection->peerAddress(), connection->localAddress(),
                       connection->peerPort()};
    if (m_byEndpoint.value(key) == connection)
        m_byEndpoint.remove(key);
    if (m_connections.isEmpty())
        m_sweep.stop();
    if (m_peak >= 256 && m_connections.size() <= m_peak / 4)
        m_trim.start(); // (re)started: runs once things have been quiet for a second
}

void FrontDoor::upgraded(Connection *connection)
{
    if (!m_connections.contains(connection))
        return;
    m_httpOpen->sub();
    m_webSocketOpen->add();
}

void FrontDoor::sweep()
{
    const qint64 now = nowMs();
    QList<Connection *> expired;
    for (Connection *connection : std::as_const(m_connections)) {
        if (connection->deadlineMs() != 0 && now >= connection->deadlineMs())
            expired.append(connection);
    }
    for (Connection *connection : expired)
        connection->expire();
}

} // namespace Switchboard
