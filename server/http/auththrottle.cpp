#include "http/auththrottle.h"

#include "http/conn.h"
#include "logging.h"

#include <QtCore/QtEndian>

#include <algorithm>

namespace Switchboard {

AuthThrottle::AuthThrottle(QByteArray what, AuthThrottleSettings settings)
    : m_what(std::move(what)), m_settings(settings)
{
    m_elapsed.start();
}

void AuthThrottle::setSettings(const AuthThrottleSettings &settings)
{
    const std::lock_guard lock(m_mutex);
    m_settings = settings;
    m_emptyAt.clear();
}

void AuthThrottle::setClock(std::function<qint64()> nowMs)
{
    const std::lock_guard lock(m_mutex);
    m_clock = std::move(nowMs);
    m_emptyAt.clear();
}

qint64 AuthThrottle::now() const
{
    return m_clock ? m_clock() : m_elapsed.elapsed();
}

QByteArray AuthThrottle::peerKey(const QHostAddress &address)
{
    bool isIPv4 = false;
    const quint32 ipv4 = address.toIPv4Address(&isIPv4); // ::ffff:a.b.c.d too
    if (isIPv4) {
        QByteArray key(4, Qt::Uninitialized);
        qToBigEndian(ipv4, key.data());
        return key;
    }
    const Q_IPV6ADDR ipv6 = address.toIPv6Address();
    return QByteArray(reinterpret_cast<const char *>(ipv6.c), 8);
}

AuthThrottleSettings AuthThrottle::settings() const
{
    const std::lock_guard lock(m_mutex);
    return m_settings;
}

int AuthThrottle::peerCount() const
{
    const std::lock_guard lock(m_mutex);
    return int(m_emptyAt.size());
}

std::chrono::seconds AuthThrottle::retryAfter(const QHostAddress &peer)
{
    const std::lock_guard lock(m_mutex);
    return waitOf(peerKey(peer), now());
}

std::chrono::seconds AuthThrottle::waitOf(const QByteArray &key, qint64 now) const
{
    const qint64 interval = m_settings.leakInterval.count();
    if (m_settings.capacity <= 0 || interval <= 0)
        return std::chrono::seconds(0);
    const auto it = m_emptyAt.constFind(key);
    if (it == m_emptyAt.cend())
        return std::chrono::seconds(0);
    // One more try once no more than capacity - 1 wrong tokens are left in the bucket.
    const qint64 wait = *it - now - (m_settings.capacity - 1) * interval;
    return std::chrono::seconds(wait <= 0 ? 0 : (wait + 999) / 1000);
}

bool AuthThrottle::refuse(Conn &conn)
{
    const std::chrono::seconds wait = retryAfter(conn.peerAddress);
    if (wait.count() == 0)
        return false;
    conn.putRespHeader(QByteArrayLiteral("retry-after"), QByteArray::number(wait.count()));
    conn.sendError(429,
                   QStringLiteral("too many wrong %1s from this address; retry in %2 s")
                           .arg(QString::fromLatin1(m_what))
                           .arg(wait.count()))
            .halt();
    return true;
}

void AuthThrottle::recordFailure(const QHostAddress &peer)
{
    const std::lock_guard lock(m_mutex);
    const qint64 interval = m_settings.leakInterval.count();
    if (m_settings.capacity <= 0 || interval <= 0)
        return;
    const qint64 t = now();
    const QByteArray key = peerKey(peer);
    auto it = m_emptyAt.find(key);
    if (it == m_emptyAt.end()) {
        makeRoom(t);
        it = m_emptyAt.insert(key, t);
    }
    *it = std::max(*it, t) + interval;
    // The token is not logged, only that the peer has to wait now: at most one line
    // per leakInterval and peer.
    if (*it - t > (m_settings.capacity - 1) * interval)
        qCWarning(lcHttp, "too many wrong %ss from %s: answering it 429 for %lld s",
                  m_what.constData(), qPrintable(peer.toString()),
                  static_cast<long long>(waitOf(key, t).count()));
}

void AuthThrottle::makeRoom(qint64 now)
{
    if (m_emptyAt.size() < m_settings.maxPeers)
        return;
    // Empty buckets first; if every one still holds something, the emptiest.
    m_emptyAt.removeIf([now](const auto &entry) { return entry.value() <= now; });
    while (!m_emptyAt.isEmpty() && m_emptyAt.size() >= m_settings.maxPeers) {
        const auto emptiest = std::min_element(m_emptyAt.cbegin(), m_emptyAt.cend());
        m_emptyAt.erase(emptiest);
    }
}

} // namespace Switchboard
