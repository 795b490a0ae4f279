#pragma once

#include <QtCore/QDeadlineTimer>
#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QHostAddress>

#include <optional>
#include <utility>

namespace Switchboard::Descriptor {

/*!
    Plain TCP on a connected socket descriptor: the few calls the front door
    makes instead of going through a QTcpSocket (see net/connection.h for why).
    This file and its POSIX implementation are all a port to another platform
    has to replace for plain TCP.
*/

/*! Why a call did not move bytes. */
enum class Failure {
    None,
    WouldBlock, //!< try again when the descriptor is ready
    ClosedByPeer, //!< orderly shutdown or reset by the peer
    Error, //!< anything else; see errorString()
};

struct Transfer
{
    qint64 bytes = 0; //!< bytes moved; 0 with a failure
    Failure failure = Failure::None;
    int error = 0; //!< the system's error number, for errorString()
};

/*! Makes an accepted descriptor non-blocking and turns Nagle off. */
void prepareAccepted(qintptr fd);
/*! The peer's (\a peer) or our own address and port, or a null address. */
std::pair<QHostAddress, quint16> endpoint(qintptr fd, bool peer);
/*! Reads up to \a size bytes. A peer that closed gives Failure::ClosedByPeer. */
Transfer receive(qintptr fd, char *buffer, qint64 size);
/*! Writes up to \a size bytes without blocking and without SIGPIPE. */
Transfer send(qintptr fd, const char *data, qint64 size);
/*! Waits until \a fd can take more bytes; false on timeout or error. */
bool waitWritable(qintptr fd, QDeadlineTimer deadline);
void close(qintptr fd);
/*! Low delay and keep-alive; other options are not supported on descriptors. */
void setOption(qintptr fd, QAbstractSocket::SocketOption option, int value);
std::optional<int> option(qintptr fd, QAbstractSocket::SocketOption option);
QString errorString(int error);

} // namespace Switchboard::Descriptor
