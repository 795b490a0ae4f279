#include "websocket/frame.h"

#include <QtCore/QtEndian>

namespace Switchboard {

Frame::Frame(Type type, QByteArray payload)
    : m_type(type), m_payload(std::move(payload)), m_wire(std::make_shared<QByteArray>())
{
}

const QByteArray &Frame::wireBytes() const
{
    if (!m_wire)
        m_wire = std::make_shared<QByteArray>();
    if (!m_wire->isEmpty())
        return *m_wire;

    static constexpr quint8 opcodes[] = {0x1, 0x2, 0x9, 0xA};
    const quint64 size = quint64(m_payload.size());
    QByteArray &out = *m_wire;
    out.reserve(qsizetype(size) + 10);
    out.append(char(0x80 | opcodes[int(m_type)]));
    if (size < 126) {
        out.append(char(size));
    } else if (size <= 0xFFFF) {
        out.append(char(126));
        uchar len[2];
        qToBigEndian(quint16(size), len);
        out.append(reinterpret_cast<const char *>(len), 2);
    } else {
        out.append(char(127));
        uchar len[8];
        qToBigEndian(size, len);
        out.append(reinterpret_cast<const char *>(len), 8);
    }
    out.append(m_payload);
    return out;
}

QString Frame::typeName(Type type)
{
    switch (type) {
    case Type::Text:
        return QStringLiteral("text");
    case Type::Binary:
        return QStringLiteral("binary");
    case Type::Ping:
        return QStringLiteral("ping");
    case Type::Pong:
        return QStringLiteral("pong");
    }
    return {};
}

} // namespace Switchboard
