#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <chrono>
#include <optional>

namespace Switchboard {

/*! One cluster message, as a node means it, before sealing or after opening. */
struct Envelope
{
    QString type; //!< broadcast, send, close or heartbeat
    QString origin; //!< the sending node's name
    QString target; //!< a path (broadcast), "node:id" (send, close) or empty
    QJsonObject payload;
    quint64 boot = 0; //!< the sender's random boot id, new at each start
    quint64 seq = 0; //!< the sender's counter within that boot, from 1
    qint64 timeMs = 0; //!< the sender's wall clock when sealed, ms since the epoch
};

/*!
    Seals and opens the cluster's envelopes (protocol 2).

    On the wire an envelope is `MAC.JSON`: the JSON object
    `{"v":2,"type":..,"origin":..,"boot":"<hex>","seq":N,"ts":ms,"target":..,"payload":{..}}`
    after the base64url HMAC-SHA256 of the channel name and that JSON, keyed
    by a key derived from the cluster secret. Without a secret (the operator's
    explicit --cluster-insecure) the MAC is "-" and nothing is authenticated.

    open() drops what it cannot trust, and says why: a wrong MAC (a forger, a
    node with another secret, or an altered message), a missing MAC where one
    is required, a (boot, seq) at or below the highest already taken from
    that sender (a replay), a time further than maxSkew from ours (an old
    capture replayed to a node that has not seen its boot), or a malformed
    or oversized message. The MAC is checked before any JSON is parsed.

    Not thread-safe; one per Cluster, on its thread.
*/
class EnvelopeCodec final
{
    Q_DISABLE_COPY_MOVE(EnvelopeCodec)

public:
    static constexpr int ProtocolVersion = 2;
    static constexpr qsizetype DefaultMaxSize = 64 * 1024 * 1024;

    /*! Why open() refused an envelope; also the keys of the drop counters. */
    enum class Drop {
        Malformed, //!< not `MAC.JSON`, or a field missing, of the wrong type or out of range
        Oversize, //!< longer than maxSize
        Version, //!< another protocol version (an older or newer Switchboard)
        Unauthenticated, //!< no MAC where this node requires one, or one it cannot check
        Forged, //!< the MAC does not match: another secret, or altered on the way
        Replayed, //!< (boot, seq) already taken
        Stale, //!< sealed more than maxSkew before or after now
    };
    static constexpr int DropKinds = int(Drop::Stale) + 1;
    /*! The counter's name for \a drop, as /api/health shows it. */
    static QString dropName(Drop drop);

    struct Opened
    {
        std::optional<Envelope> envelope; //!< set when accepted
        Drop drop = Drop::Malformed; //!< why not, otherwise
    };

    /*!
        \a secret is the cluster secret, empty for an insecure cluster.
        \a channel is bound into every MAC, so an envelope cannot be replayed
        on another cluster's channel with the same secret.
    */
    EnvelopeCodec(const QByteArray &secret, QByteArray channel, QString origin, quint64 boot);

    bool isAuthenticated() const { return !m_key.isEmpty(); }
    void setMaxSkew(std::chrono::milliseconds skew) { m_maxSkewMs = skew.count(); }
    void setMaxSize(qsizetype bytes) { m_maxSize = bytes; }
    qsizetype maxSize() const { return m_maxSize; }
    quint64 boot() const { return m_boot; }

    /*! The wire form of a new envelope from this node, with the next sequence number. */
    QByteArray seal(const QString &type, const QString &target, const QJsonObject &payload,
                    qint64 nowMs);

    /*!
        The envelope in \a wire if it is to be trusted at \a nowMs (the wall
        clock). Accepting one raises the sender's high-water mark, so the
        same bytes are refused the next time.
    */
    Opened open(QByteArrayView wire, qint64 nowMs);
    /*!
        The envelope in \a wire if its MAC and shape are right, however old
        and however often seen: for what was kept on purpose (a topic's
        history in Redis), never for what arrives live.
    */
    Opened verify(QByteArrayView wire) const;

    /*! A fresh random boot id. */
    static quint64 newBoot();

private:
    QByteArray mac(QByteArrayView json) const;
    struct Seen
    {
        quint64 seq = 0;
        qint64 lastMs = 0; //!< our clock when last accepted, to forget old boots
    };
    static constexpr qsizetype MaxSenders = 1024;
    static constexpr qsizetype MaxBootsPerSender = 16;

    Seen &seenFor(const QString &origin, quint64 boot);
    void forgetOldBoots(qint64 nowMs);

    QByteArray m_key; //!< derived from the secret; empty = insecure
    QByteArray m_channel;
    QString m_origin;
    quint64 m_boot;
    quint64 m_seq = 0;
    qint64 m_maxSkewMs = 60'000;
    qsizetype m_maxSize = DefaultMaxSize;
    // sender -> its boots in the last two skew windows -> the highest seq taken
    QHash<QString, QHash<quint64, Seen>> m_seen;
    qint64 m_lastForgetMs = 0;
};

} // namespace Switchboard
