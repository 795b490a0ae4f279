#include "platform/descriptor.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace Switchboard::Descriptor {

namespace {

Transfer failed(int error)
{
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR)
        return {0, Failure::WouldBlock, error};
    if (error == ECONNRESET || error == EPIPE)
        return {0, Failure::ClosedByPeer, error};
    return {0, Failure::Error, error};
}

std::optional<std::pair<int, int>> levelAndName(QAbstractSocket::SocketOption option)
{
    switch (option) {
    case QAbstractSocket::LowDelayOption:
        return std::pair{int(IPPROTO_TCP), int(TCP_NODELAY)};
    case QAbstractSocket::KeepAliveOption:
        return std::pair{int(SOL_SOCKET), int(SO_KEEPALIVE)};
    default:
        return std::nullopt;
    }
}

} // namespace

void prepareAccepted(qintptr fd)
{
    const int descriptor = int(fd);
    ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) | O_NONBLOCK);
    // Answers are corked into one send() per read already; Nagle would only add delay.
    const int one = 1;
    ::setsockopt(descriptor, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::pair<QHostAddress, quint16> endpoint(qintptr fd, bool peer)
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    auto *raw = reinterpret_cast<sockaddr *>(&address);
    const int descriptor = int(fd);
    if ((peer ? ::getpeername(descriptor, raw, &length) : ::getsockname(descriptor, raw, &length))
        != 0)
        return {};
    if (address.ss_family == AF_INET)
        return {QHostAddress(raw), ntohs(reinterpret_cast<sockaddr_in *>(raw)->sin_port)};
    if (address.ss_family == AF_INET6)
        return {QHostAddress(raw), ntohs(reinterpret_cast<sockaddr_in6 *>(raw)->sin6_port)};
    return {};
}

Transfer receive(qintptr fd, char *buffer, qint64 size)
{
    const ssize_t n = ::recv(int(fd), buffer, size_t(size), 0);
    if (n > 0)
        return {qint64(n), Failure::None, 0};
    if (n == 0)
        return {0, Failure::ClosedByPeer, 0};
    return failed(errno);
}

Transfer send(qintptr fd, const char *data, qint64 size)
{
    const ssize_t n = ::send(int(fd), data, size_t(size), MSG_NOSIGNAL);
    if (n >= 0)
        return {qint64(n), Failure::None, 0};
    return failed(errno);
}

bool waitWritable(qintptr fd, QDeadlineTimer deadline)
{
    pollfd writable{int(fd), POLLOUT, 0};
    const qint64 remaining = deadline.remainingTime();
    return ::poll(&writable, 1, int(qBound(qint64(-1), remaining, qint64(INT_MAX)))) > 0
            && (writable.revents & POLLOUT);
}

void close(qintptr fd)
{
    ::close(int(fd));
}

void setOption(qintptr fd, QAbstractSocket::SocketOption option, int value)
{
    if (const auto which = levelAndName(option))
        ::setsockopt(int(fd), which->first, which->second, &value, sizeof value);
}

std::optional<int> option(qintptr fd, QAbstractSocket::SocketOption option)
{
    const auto which = levelAndName(option);
    int value = 0;
    socklen_t length = sizeof value;
    if (!which || ::getsockopt(int(fd), which->first, which->second, &value, &length) != 0)
        return std::nullopt;
    return value;
}

QString errorString(int error)
{
    return error == 0 ? QStringLiteral("The remote host closed the connection")
                      : QString::fromLocal8Bit(::strerror(error));
}

} // namespace Switchboard::Descriptor
