#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtNetwork/QHostAddress>

#include <chrono>
#include <functional>
#include <mutex>

namespace Switchboard {

struct Conn;

/*! How AuthThrottle slows down token guessing. */
struct AuthThrottleSettings
{
    int capacity = 10; //!< wrong tokens a peer may send in a row before it must wait
    std::chrono::milliseconds leakInterval{6'000}; //!< one wrong token forgiven per interval
    int maxPeers = 4096; //!< peers remembered; past that the emptiest bucket is forgotten
};

/*!
    Slows down token guessing: a leaky bucket of wrong tokens per peer, an
    IPv4 address or the /64 of an IPv6 one (one host's usual allocation).

    A peer may send capacity wrong tokens in a row; after that its requests
    are answered 429 with `Retry-After`, without looking at the token, until
    the bucket has leaked enough for one more try: one every leakInterval.
    A right token does not empty the bucket (it is no use to a guesser, who
    has none). At most maxPeers peers are remembered, so the table cannot
    grow without bound; when it is full the emptiest bucket is forgotten.

    Safe from any thread (the workers share one per token, see Server).
*/
class AuthThrottle final
{
    Q_DISABLE_COPY_MOVE(AuthThrottle)

public:
    /*! \a what names the token in log lines ("admin token"). */
    explicit AuthThrottle(QByteArray what, AuthThrottleSettings settings = {});

    /*! New settings; every peer is forgotten. */
    void setSettings(const AuthThrottleSettings &settings);
    AuthThrottleSettings settings() const;
    /*! Replaces the monotonic millisecond clock (for tests); every peer is forgotten. */
    void setClock(std::function<qint64()> nowMs);

    /*! How long \a peer must wait before its token is looked at again; 0 = not at all. */
    std::chrono::seconds retryAfter(const QHostAddress &peer);
    /*!
        If the peer of \a conn must wait, answers 429 with `Retry-After` and
        a JSON error on \a conn, halts it and returns true.
    */
    bool refuse(Conn &conn);
    /*! Counts one wrong token from \a peer. */
    void recordFailure(const QHostAddress &peer);

    /*! Peers currently remembered. */
    int peerCount() const;
    /*! The bucket \a address falls in: its IPv4 address, or its IPv6 /64. */
    static QByteArray peerKey(const QHostAddress &address);

private:
    qint64 now() const;
    std::chrono::seconds waitOf(const QByteArray &key, qint64 now) const;
    void makeRoom(qint64 now);

    QByteArray m_what;
    mutable std::mutex m_mutex; // guards everything below
    AuthThrottleSettings m_settings;
    std::function<qint64()> m_clock;
    QElapsedTimer m_elapsed;
    // Peer -> when its bucket is empty (ms on the clock): each wrong token pushes it
    // one leakInterval further, so the level is (emptyAt - now) / leakInterval.
    QHash<QByteArray, qint64> m_emptyAt;
};

} // namespace Switchboard
