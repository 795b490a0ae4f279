#include "websocket/frame.h"

#include "websocket/deflate.h"
#include "websocket/framecodec.h"

namespace Switchboard {

namespace {

quint8 opcodeOf(Frame::Type type)
{
    switch (type) {
    case Frame::Type::Text:
        return Opcode::Text;
    case Frame::Type::Binary:
        return Opcode::Binary;
    case Frame::Type::Ping:
        return Opcode::Ping;
    case Frame::Type::Pong:
        return Opcode::Pong;
    }
    return Opcode::Binary;
}

} // namespace

Frame::Frame(Type type, QByteArray payload)
    : m_type(type), m_payload(std::move(payload)), m_encoded(std::make_shared<Encoded>())
{
}

const QByteArray &Frame::wireBytes() const
{
    if (!m_encoded)
        m_encoded = std::make_shared<Encoded>();
    QByteArray &out = m_encoded->plain;
    if (!out.isEmpty())
        return out;
    out.reserve(m_payload.size() + 10);
    appendFrameHeader(out, opcodeOf(m_type), quint64(m_payload.size()));
    out.append(m_payload);
    return out;
}

const QByteArray &Frame::deflatedWireBytes(int windowBits, qsizetype *payloadSize) const
{
    Q_ASSERT(isData());
    if (!m_encoded)
        m_encoded = std::make_shared<Encoded>();
    Encoded &cache = *m_encoded;
    // Every session in practice agrees on the same window; a different one replaces the cache.
    if (cache.deflated.isEmpty() || cache.deflatedWindowBits != windowBits) {
        const std::optional<QByteArray> compressed
                = MessageDeflater::forThread(windowBits).compress(m_payload);
        if (!compressed) { // zlib failed (logged): the message goes out uncompressed
            if (payloadSize)
                *payloadSize = m_payload.size();
            return wireBytes();
        }
        cache.deflated.clear();
        cache.deflated.reserve(compressed->size() + 10);
        appendFrameHeader(cache.deflated, opcodeOf(m_type), quint64(compressed->size()), true,
                          true);
        cache.deflated.append(*compressed);
        cache.deflatedWindowBits = windowBits;
        cache.deflatedPayload = compressed->size();
    }
    if (payloadSize)
        *payloadSize = cache.deflatedPayload;
    return cache.deflated;
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
