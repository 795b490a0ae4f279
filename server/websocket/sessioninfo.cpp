#include "websocket/sessioninfo.h"

#include <QtCore/QJsonValue>

#include <cmath>

namespace Switchboard {

QString SessionInfo::peer() const
{
    const QString address = peerAddress.protocol() == QAbstractSocket::IPv6Protocol
            ? u'[' + peerAddress.toString() + u']'
            : peerAddress.toString();
    return address + u':' + QString::number(peerPort);
}

std::optional<double> SessionInfo::compressionRatio() const
{
    const quint64 wire = wireBytesIn + wireBytesOut;
    if (!compressed || wire == 0)
        return std::nullopt;
    return double(bytesIn + bytesOut) / double(wire);
}

QJsonObject SessionInfo::toJson() const
{
    const std::optional<double> ratio = compressionRatio();
    const auto orNull = [](bool present, const QJsonValue &value) {
        return present ? value : QJsonValue(QJsonValue::Null);
    };
    return QJsonObject{
            {QStringLiteral("id"), qint64(id)},
            {QStringLiteral("peer"), peer()},
            {QStringLiteral("path"), QString::fromUtf8(path)},
            {QStringLiteral("connected_at"), connectedAt.toString(Qt::ISODateWithMs)},
            {QStringLiteral("messages_in"), qint64(messagesIn)},
            {QStringLiteral("messages_out"), qint64(messagesOut)},
            {QStringLiteral("bytes_in"), qint64(bytesIn)},
            {QStringLiteral("bytes_out"), qint64(bytesOut)},
            {QStringLiteral("last_ping_rtt_ms"), orNull(lastPingRttMs >= 0, lastPingRttMs)},
            {QStringLiteral("state"),
             state == State::Open ? QStringLiteral("open") : QStringLiteral("closing")},
            {QStringLiteral("subprotocol"),
             orNull(!protocol.isEmpty(), QString::fromLatin1(protocol))},
            {QStringLiteral("deflate"), compressed},
            {QStringLiteral("wire_bytes_in"), qint64(wireBytesIn)},
            {QStringLiteral("wire_bytes_out"), qint64(wireBytesOut)},
            {QStringLiteral("compression_ratio"),
             orNull(ratio.has_value(), std::round(ratio.value_or(0) * 100) / 100)},
    };
}

SessionInfo SessionInfo::fromJson(const QJsonObject &json)
{
    const auto number = [&json](const QString &key, qint64 missing = 0) {
        return json.value(key).toInteger(missing);
    };
    SessionInfo info;
    const QString peer = json.value(QStringLiteral("peer")).toString();
    const qsizetype colon = peer.lastIndexOf(u':');
    if (colon > 0) {
        QStringView address = QStringView(peer).left(colon);
        if (address.startsWith(u'[') && address.endsWith(u']'))
            address = address.mid(1, address.size() - 2);
        info.peerAddress.setAddress(address.toString());
        info.peerPort = QStringView(peer).mid(colon + 1).toUShort();
    }
    info.path = json.value(QStringLiteral("path")).toString().toUtf8();
    info.connectedAt = QDateTime::fromString(json.value(QStringLiteral("connected_at")).toString(),
                                             Qt::ISODateWithMs);
    info.messagesIn = quint64(number(QStringLiteral("messages_in")));
    info.messagesOut = quint64(number(QStringLiteral("messages_out")));
    info.bytesIn = quint64(number(QStringLiteral("bytes_in")));
    info.bytesOut = quint64(number(QStringLiteral("bytes_out")));
    info.wireBytesIn = quint64(number(QStringLiteral("wire_bytes_in")));
    info.wireBytesOut = quint64(number(QStringLiteral("wire_bytes_out")));
    info.lastPingRttMs = number(QStringLiteral("last_ping_rtt_ms"), -1); // null until a pong
    info.protocol = json.value(QStringLiteral("subprotocol")).toString().toLatin1();
    info.compressed = json.value(QStringLiteral("deflate")).toBool();
    info.state = json.value(QStringLiteral("state")).toString() == u"closing" ? State::Closing
                                                                              : State::Open;
    return info;
}

bool SessionInfo::countersDiffer(const SessionInfo &other) const
{
    return messagesIn != other.messagesIn || messagesOut != other.messagesOut
            || bytesIn != other.bytesIn || bytesOut != other.bytesOut
            || wireBytesIn != other.wireBytesIn || wireBytesOut != other.wireBytesOut
            || lastPingRttMs != other.lastPingRttMs || pongs != other.pongs || state != other.state;
}

} // namespace Switchboard
