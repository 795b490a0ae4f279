#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QMetaType>
#include <QtCore/QString>

#include <atomic>
#include <memory>
#include <mutex>

namespace Switchboard {

/*!
    One WebSocket message: text, binary, ping or pong, with its payload.

    Frames are cheap to copy (the payload is implicitly shared) and carry a
    shared cache of their encoded server-to-client bytes, plain and
    compressed, so a frame sent to many sessions is encoded (and compressed)
    once, not once per session.

    A frame is immutable once made, and safe to share between threads: its
    copies may be encoded from several threads at once, and each encoding is
    made once (std::call_once, and a lock held only while compressing) and
    never changed after.
*/
class Frame final
{
public:
    enum class Type : quint8 { Text, Binary, Ping, Pong };

    Frame() : Frame(Type::Text, {}) { }
    Frame(Type type, QByteArray payload);

    static Frame text(const QString &text) { return {Type::Text, text.toUtf8()}; }
    static Frame text(QByteArray utf8) { return {Type::Text, std::move(utf8)}; }
    static Frame binary(QByteArray data) { return {Type::Binary, std::move(data)}; }
    static Frame ping(QByteArray data = {}) { return {Type::Ping, std::move(data)}; }
    static Frame pong(QByteArray data = {}) { return {Type::Pong, std::move(data)}; }

    Type type() const { return m_type; }
    bool isText() const { return m_type == Type::Text; }
    bool isBinary() const { return m_type == Type::Binary; }
    bool isControl() const { return m_type == Type::Ping || m_type == Type::Pong; }
    bool isData() const { return !isControl(); }
    /*! The payload; UTF-8 for text frames. */
    const QByteArray &payload() const { return m_payload; }
    QString toText() const { return QString::fromUtf8(m_payload); }
    qsizetype size() const { return m_payload.size(); }

    /*!
        The frame as unmasked wire bytes (RFC 6455 §5.2, FIN set), encoded on
        first use and shared by every copy of this frame.
    */
    const QByteArray &wireBytes() const;
    /*!
        A data frame as one permessage-deflate message (RFC 7692: RSV1 set,
        compressed alone, so the same bytes suit every session that agreed to
        deflate with a window of up to 2^\a windowBits), compressed on first
        use and shared by every copy of this frame (for the first window asked
        for; sessions in practice agree on one). \a payloadSize gets the
        compressed payload's size.
    */
    QByteArray deflatedWireBytes(int windowBits, qsizetype *payloadSize = nullptr) const;

    static QString typeName(Type type);

private:
    struct Encoded
    {
        std::once_flag plainOnce;
        QByteArray plain;
        std::mutex deflating; // held while compressing
        // The window `deflated` was made for, stored once it is complete: 0 until then.
        std::atomic<int> deflatedWindowBits{0};
        QByteArray deflated;
        qsizetype deflatedPayload = 0;
    };

    Type m_type = Type::Text;
    QByteArray m_payload;
    std::shared_ptr<Encoded> m_encoded; // shared encode cache, see wireBytes()
};

} // namespace Switchboard

Q_DECLARE_METATYPE(Switchboard::Frame)
