#include "http/listener.h"

#include "http/server.h"
#include "net/connection.h"
#include "net/frontdoor.h"
#include "websocket/hub.h"
#include "websocket/sessionhost.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtNetwork/QTcpSocket>

namespace Switchboard {

Listener::Listener(Server *server, SessionHost *host, std::atomic<int> *open)
    : m_server(server)
    , m_host(host)
    , m_frontDoor(new FrontDoor(server->httpLimits(), server->hub().metrics(), open, this))
{
    Hub::checkThread(host, "Listener (made off its worker's thread)");
    m_frontDoor->setMaxPendingConnections(1024);
    m_frontDoor->setUpgradeHandler([this](Connection *connection, const RequestHead &head) {
        m_server->upgrade(connection, head, m_host);
    });
    // A signal of the server (on its thread): receivers there get it queued.
    connect(m_frontDoor, &FrontDoor::refused, m_server, &Server::requestRefused);
}

Listener::~Listener() = default;

bool Listener::listen(const QHostAddress &address, quint16 port)
{
    Hub::checkThread(this, "Listener::listen");
    if (!m_frontDoor->listen(address, port))
        return false;
    bindOnce();
    return true;
}

bool Listener::listenOn(qintptr descriptor)
{
    Hub::checkThread(this, "Listener::listenOn");
    if (!m_frontDoor->setSocketDescriptor(descriptor))
        return false;
    bindOnce();
    return true;
}

void Listener::bindOnce()
{
    if (!m_bound) {
        bind(m_frontDoor); // once, while listening: Qt 6.8 refuses a server that is not
        m_bound = true;
    }
}

void Listener::close()
{
    Hub::checkThread(this, "Listener::close");
    m_frontDoor->close();
}

void Listener::setTlsConfiguration(const QSslConfiguration &configuration)
{
    Hub::checkThread(this, "Listener::setTlsConfiguration");
    m_frontDoor->setTlsConfiguration(configuration);
}

#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
bool Listener::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    const auto *ours = qobject_cast<ConnectionSocket *>(socket);
    m_server->serve(this, ours ? ours->connection() : nullptr, request.body());
    return true;
}

void Listener::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    // handleRequest() answers everything; Qt only calls this when it returns false.
    Q_UNUSED(request);
    Q_UNUSED(socket);
}
#else
bool Listener::handleRequest(const QHttpServerRequest &request, QHttpServerResponder &responder)
{
    Q_UNUSED(responder); // the response goes out through the Connection, see Server
    // Qt 6.5+ gives no socket: the front door finds the connection by its endpoints.
    m_server->serve(this,
                    m_frontDoor->connection(request.remoteAddress(), request.remotePort(),
                                            request.localAddress()),
                    request.body());
    return true;
}

#if QT_VERSION < QT_VERSION_CHECK(6, 8, 0)
void Listener::missingHandler(const QHttpServerRequest &request, QHttpServerResponder &&responder)
#else
void Listener::missingHandler(const QHttpServerRequest &request, QHttpServerResponder &responder)
#endif
{
    // handleRequest() answers everything; Qt only calls this when it returns false.
    Q_UNUSED(request);
    Q_UNUSED(responder);
}
#endif

} // namespace Switchboard
