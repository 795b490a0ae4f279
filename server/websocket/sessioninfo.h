#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>
#include <QtCore/QMetaType>
#include <QtNetwork/QHostAddress>

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
    quint64 bytesIn = 0;
    quint64 bytesOut = 0;
    qint64 lastPingRttMs = -1; //!< -1 until the first pong
    State state = State::Open;

    QString peer() const;
};

} // namespace Switchboard

Q_DECLARE_METATYPE(Switchboard::SessionInfo)
