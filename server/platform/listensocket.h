#pragma once

#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QHostAddress>

#include <vector>

namespace Switchboard::ListenSocket {

/*!
    Listening sockets that share one port, so that several worker threads can
    each accept their own connections (Linux SO_REUSEPORT: the kernel spreads
    new connections over them by a hash of the peer's address and port).
    QTcpServer cannot set that option, so the sockets are made here and given
    to QTcpServer::setSocketDescriptor(). This file and its POSIX
    implementation are all a port to another platform has to replace.
*/

struct Result
{
    std::vector<qintptr> descriptors; //!< listening, non-blocking; empty on failure
    QAbstractSocket::SocketError error = QAbstractSocket::UnknownSocketError;
    QString errorString;
};

/*!
    Opens \a count sockets listening on \a address and \a port (0: one free
    port, the same for all) with SO_REUSEPORT.

    Another program, or another Switchboard, already on the port is an
    AddressInUseError, as for a single socket: the port is first bound once
    without SO_REUSEPORT, which fails while anyone listens on it, so two
    servers never end up sharing one port by accident.
*/
Result openShared(const QHostAddress &address, quint16 port, int count, int backlog);

/*! Closes \a descriptor (one openShared() gave that QTcpServer never took). */
void close(qintptr descriptor);

} // namespace Switchboard::ListenSocket
