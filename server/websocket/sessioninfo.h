#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>
#include <QtCore/QJsonObject>
#include <QtCore/QMetaType>
#include <QtNetwork/QHostAddress>

#include <optional>

namespace Switchboard {

/*! A snapshot of one session: what the GUI and /api/connections show. */
struct SessionInfo
{
    enum class State : quint8 { Open, Closing };

    quint64 id = 0;
    QHostAddress peerAddress;
    quint16 peerPort = 0;
    QByteArray path;
    QDateTime connectedAt;
    quint64 messagesIn = 0;
    quint64 messagesOut = 0;
    quint64 bytesIn = 0; //!< message payload bytes, as the handler saw them (inflated)
    quint64 bytesOut = 0;
    quint64 wireBytesIn = 0; //!< the same payloads as they crossed the wire (compressed or not)
    quint64 wireBytesOut = 0;
    qint64 lastPingRttMs = -1; //!< -1 until the first pong
    /*!
        Pongs received so far: each one is a new lastPingRttMs, also when it
        equals the last, so the console can keep a history of round trips.
    */
    quint64 pongs = 0;
    QByteArray protocol; //!< the negotiated subprotocol, or empty
    bool compressed = false; //!< permessage-deflate was negotiated
    State state = State::Open;

    QString peer() const;
    /*!
        Payload bytes per wire byte, both directions together (3.0 = a third
        on the wire); nullopt without compression or before any traffic.
    */
    std::optional<double> compressionRatio() const;

    /*!
        The session as GET /api/connections and cluster heartbeats describe it
        (`"id"` a number; the cluster replaces it with "node:id").
    */
    QJsonObject toJson() const;
    /*! The figures of \a json as toJson() wrote them; the id is the caller's to set. */
    static SessionInfo fromJson(const QJsonObject &json);
    /*! Whether the figures that change with traffic differ from \a other's. */
    bool countersDiffer(const SessionInfo &other) const;
};

} // namespace Switchboard

Q_DECLARE_METATYPE(Switchboard::SessionInfo)
