#include "platform/listensocket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace Switchboard::ListenSocket {

namespace {

struct Address
{
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
};

Address toSockaddr(const QHostAddress &address, quint16 port)
{
    Address out;
    if (address.protocol() == QAbstractSocket::IPv6Protocol || address == QHostAddress::Any) {
        auto *in6 = reinterpret_cast<sockaddr_in6 *>(&out.storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        const Q_IPV6ADDR bytes
                = address == QHostAddress::Any ? Q_IPV6ADDR{} : address.toIPv6Address();
        std::memcpy(&in6->sin6_addr, bytes.c, sizeof bytes.c);
        in6->sin6_scope_id = address.scopeId().toUInt();
        out.length = sizeof(sockaddr_in6);
        out.family = AF_INET6;
    } else {
        auto *in4 = reinterpret_cast<sockaddr_in *>(&out.storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        in4->sin_addr.s_addr = htonl(address.toIPv4Address());
        out.length = sizeof(sockaddr_in);
    }
    return out;
}

QAbstractSocket::SocketError errorOf(int error)
{
    switch (error) {
    case EADDRINUSE:
        return QAbstractSocket::AddressInUseError;
    case EADDRNOTAVAIL:
        return QAbstractSocket::SocketAddressNotAvailableError;
    case EACCES:
    case EPERM:
        return QAbstractSocket::SocketAccessError;
    default:
        return QAbstractSocket::UnknownSocketError;
    }
}

/*! A bound socket, listening if \a backlog >= 0; -1 and errno on failure. */
int openOne(const Address &address, bool reusePort, int backlog)
{
    const int fd = ::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    const int on = 1;
    // As QTcpServer does: a restarted server may bind while old connections linger.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (address.family == AF_INET6) {
        // "::" serves IPv4 too (QHostAddress::Any); a specific IPv6 address only IPv6.
        const int v6only = 0;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if ((reusePort && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
        || ::bind(fd, reinterpret_cast<const sockaddr *>(&address.storage), address.length) != 0
        || (backlog >= 0 && ::listen(fd, backlog) != 0)) {
        const int error = errno;
        ::close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

quint16 boundPort(int fd)
{
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&storage), &length) != 0)
        return 0;
    return storage.ss_family == AF_INET6
            ? ntohs(reinterpret_cast<const sockaddr_in6 *>(&storage)->sin6_port)
            : ntohs(reinterpret_cast<const sockaddr_in *>(&storage)->sin_port);
}

} // namespace

Result openShared(const QHostAddress &address, quint16 port, int count, int backlog)
{
    Result result;
    const auto fail = [&result](int error) {
        for (const qintptr fd : result.descriptors)
            ::close(int(fd));
        result.descriptors.clear();
        result.error = errorOf(error);
        result.errorString = QString::fromLocal8Bit(std::strerror(error));
        return result;
    };
    Address where = toSockaddr(address, port);
    if (port != 0) {
        // The port must be free: a probe without SO_REUSEPORT fails if anyone listens
        // there, SO_REUSEPORT or not.
        const int probe = openOne(where, false, -1);
        if (probe < 0)
            return fail(errno);
        ::close(probe);
    }
    for (int i = 0; i < count; ++i) {
        const int fd = openOne(where, true, backlog);
        if (fd < 0)
            return fail(errno);
        result.descriptors.push_back(fd);
        if (i == 0 && port == 0) {
            // The others join the port the kernel picked for the first.
            where = toSockaddr(address, boundPort(fd));
        }
    }
    return result;
}

void close(qintptr descriptor)
{
    ::close(int(descriptor));
}

} // namespace Switchboard::ListenSocket
