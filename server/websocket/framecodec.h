#pragma once

#include "net/streamfilter.h"
#include "websocket/deflate.h"

#include <QtCore/QByteArray>

#include <memory>
#include <optional>

namespace Switchboard {

/*! WebSocket opcodes (RFC 6455 §5.2). */
namespace Opcode {
constexpr quint8 Continuation = 0x0;
constexpr quint8 Text = 0x1;
constexpr quint8 Binary = 0x2;
constexpr quint8 Close = 0x8;
constexpr quint8 Ping = 0x9;
constexpr quint8 Pong = 0xA;
} // namespace Opcode

/*!
    Appends an unmasked (server-to-client) frame header to \a out: FIN,
    \a rsv1 (set on the first frame of a compressed message), \a opcode and
    the shortest length encoding for \a length. The one frame-header encoder.
*/
void appendFrameHeader(QByteArray &out, quint8 opcode, quint64 length, bool fin = true,
                       bool rsv1 = false);

/*!
    Whether a server may send close code \a code (RFC 6455 §7.4): the
    defined codes an endpoint may send (1000 to 1003, 1007 to 1014) and the
    ranges for libraries and applications (3000 to 4999). Never 1005, 1006
    or 1015, which only report what happened.
*/
bool isSendableCloseCode(int code);

/*! A whole unmasked close frame with \a code and \a reason (cut to 123 bytes). */
QByteArray closeFrame(quint16 code, QByteArrayView reason);

/*!
    Reads client-to-server frames after the upgrade (RFC 6455 §5) and hands
    QWebSocket frames it can take: unmasked, with the reserved bits clear.
    It closes the gaps QtWebSockets (6.4 to 6.8) leaves a server with:

    \list
    \li unmasked client frames (§5.1), reserved bits set without an extension
        that defines them, RSV1 on a control or continuation frame, and
        control frames that are fragmented or longer than 125 bytes are
        refused with 1002;
    \li a message over the size limit is refused with 1009 as soon as its
        header shows it, and a compressed one as soon as its inflated size
        passes the limit, without inflating the rest;
    \li permessage-deflate (RFC 7692): compressed messages are inflated here
        and given to Qt as one plain frame (Qt 6 supports no extensions);
        corrupt compressed data is refused with 1007;
    \li the fragments of a text message are joined into one frame, because
        Qt (6.4 to 6.8) checks UTF-8 per fragment and would refuse a
        character split across two.
    \endlist

    Frames are unmasked eight bytes a step and given to Qt unmasked, which it
    accepts (6.4 to 6.8): QtWebSockets unmasks a byte at a time, a third of
    the server's time on 64 KiB messages. Control frames
    between fragments go through at once. It works on bytes only (no socket),
    so it is unit-tested and fuzzed directly.
*/
class ClientFrameReader final : public StreamFilter
{
public:
    /*! \a maxMessageSize bounds every message; \a deflate is what the upgrade agreed, if anything. */
    ClientFrameReader(qint64 maxMessageSize, std::optional<DeflateParameters> deflate);
    ~ClientFrameReader() override;

    void feed(QByteArrayView bytes, Output &out) override;

    /*! Payload bytes of data frames as they arrived on the wire (compressed where they were). */
    quint64 wireBytes() const { return m_wireBytes; }

private:
    bool startFrame(Output &out);
    void takePayload(QByteArrayView masked, Output &out);
    void finishFrame(Output &out);
    void refuse(Output &out, quint16 code, const char *reason);
    void unmask(char *to, const char *from, qsizetype n);

    enum class Mode : quint8 {
        PassThrough, //!< header already given to Qt; payload follows as it arrives
        Join, //!< a fragment of a text message: payload collected in m_message
        Inflate, //!< a fragment of a compressed message: payload inflated into m_message
    };

    qint64 m_maxMessageSize;
    std::optional<DeflateParameters> m_deflate;
    std::unique_ptr<Inflater> m_inflater; // created with the first compressed message
    bool m_closed = false;

    // The frame being read.
    quint8 m_header[14] = {}; // while it arrives: 2 bytes, up to 8 of length, the mask
    int m_headerSize = 0;
    quint64 m_remaining = 0; // payload bytes still to come
    bool m_inPayload = false;
    bool m_fin = false;
    Mode m_frameMode = Mode::PassThrough; // control frames always pass through
    quint8 m_mask[4] = {};
    quint64 m_maskPos = 0;

    // The message being read (data frames only).
    bool m_inMessage = false; // a fragmented message has started and not ended
    quint8 m_messageOpcode = 0;
    Mode m_messageMode = Mode::PassThrough; // Join / Inflate: given to Qt whole at the end
    qint64 m_messageSize = 0; // payload (inflated) bytes so far
    QByteArray m_message;

    quint64 m_wireBytes = 0;
};

} // namespace Switchboard
