#pragma once

#include <QtHttpServer/QAbstractHttpServer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>

#include <atomic>

class QTcpSocket;
class QHttpServerResponder;

namespace Switchboard {

class Connection;
class FrontDoor;
class Server;
class SessionHost;

/*!
    One worker's share of the Server: a QAbstractHttpServer bound to a
    FrontDoor of its own, living on the worker's thread next to that worker's
    SessionHost. Every connection it accepts stays on this thread for its
    whole life: its requests are parsed and (except routes that run on the
    server's thread, see Router::Runs) answered here, and its WebSocket
    session is made on this worker's host.

    The Server makes one per worker and calls it only through its thread
    (Hub::checkThread() guards the entry points); it keeps no settings of
    its own besides the front door's: the pipeline, router and upgrader are
    the Server's, shared read-only (or locked) by every worker.
*/
class Listener final : public QAbstractHttpServer
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Listener)

public:
    /*! \a open counts every worker's connections against the limit (Server owns it). */
    Listener(Server *server, SessionHost *host, std::atomic<int> *open);
    ~Listener() override;

    SessionHost *host() const { return m_host; }
    FrontDoor *frontDoor() const { return m_frontDoor; }

    /*! Listens on \a address and \a port itself (one worker). */
    bool listen(const QHostAddress &address, quint16 port);
    /*! Listens on \a descriptor, one of the workers' shared sockets (see ListenSocket). */
    bool listenOn(qintptr descriptor);
    void close();
    void setTlsConfiguration(const QSslConfiguration &configuration);

protected:
    // QAbstractHttpServer's callbacks changed shape in Qt 6.5 and again in 6.8; each
    // version's overrides find the Connection and hand over to Server::serve().
#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;
#else
    bool handleRequest(const QHttpServerRequest &request, QHttpServerResponder &responder) override;
#if QT_VERSION < QT_VERSION_CHECK(6, 8, 0)
    void missingHandler(const QHttpServerRequest &request,
                        QHttpServerResponder &&responder) override;
#else
    void missingHandler(const QHttpServerRequest &request,
                        QHttpServerResponder &responder) override;
#endif
#endif

private:
    void bindOnce();

    Server *m_server;
    SessionHost *m_host;
    FrontDoor *m_frontDoor;
    bool m_bound = false;
};

} // namespace Switchboard
