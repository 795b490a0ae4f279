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
    Encoded &cache = *m_encoded;
    std::call_once(cache.plainOnce, [&] {
        cache.plain.reserve(m_payload.size() + 10);
        appendFrameHeader(cache.plain, opcodeOf(m_type), quint64(m_payload.size()));
        cache.plain.append(m_payload);
    });
    return cache.plain;
}

QByteArray Frame::deflatedWireBytes(int windowBits, qsizetype *payloadSize) const
{
    Q_ASSERT(isData());
    Encoded &cache = *m_encoded;
    const auto cached = [&] {
        if (payloadSize)
            *payloadSize = cache.deflatedPayload;
        return cache.deflated;
    };
    if (cache.deflatedWindowBits.load(std::memory_order_acquire) == windowBits)
        return cached();
    const std::lock_guard lock(cache.deflating);
    const int made = cache.deflatedWindowBits.load(std::memory_order_relaxed);
    if (made == windowBits)
        return cached(); // made while this thread waited
    const std::optional<QByteArray> compressed
            = MessageDeflater::forThread(windowBits).compress(m_payload);
    if (!compressed) { // zlib failed (logged): the message goes out uncompressed
        if (payloadSize)
            *payloadSize = m_payload.size();
        return wireBytes();
    }
    QByteArray bytes;
    bytes.reserve(compressed->size() + 10);
    appendFrameHeader(bytes, opcodeOf(m_type), quint64(compressed->size()), true, true);
    bytes.append(*compressed);
    if (payloadSize)
        *payloadSize = compressed->size();
    if (made == 0) {
        // Written once, before the release that lets other threads read it.
        cache.deflated = bytes;
        cache.deflatedPayload = compressed->size();
        cache.deflatedWindowBits.store(windowBits, std::memory_order_release);
    }
    return bytes;
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
