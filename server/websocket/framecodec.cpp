#include "websocket/framecodec.h"

#include <QtCore/QtEndian>

#include <cstring>

namespace Switchboard {

namespace {

bool isControl(quint8 opcode)
{
    return opcode & 0x8;
}

bool isKnownOpcode(quint8 opcode)
{
    return opcode <= Opcode::Binary || (opcode >= Opcode::Close && opcode <= Opcode::Pong);
}

} // namespace

void appendFrameHeader(QByteArray &out, quint8 opcode, quint64 length, bool fin, bool rsv1)
{
    out.append(char((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f)));
    if (length < 126) {
        out.append(char(length));
    } else if (length <= 0xffff) {
        uchar bytes[2];
        qToBigEndian(quint16(length), bytes);
        out.append(char(126));
        out.append(reinterpret_cast<const char *>(bytes), 2);
    } else {
        uchar bytes[8];
        qToBigEndian(length, bytes);
        out.append(char(127));
        out.append(reinterpret_cast<const char *>(bytes), 8);
    }
}

bool isSendableCloseCode(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
            || (code >= 3000 && code <= 4999);
}

QByteArray closeFrame(quint16 code, QByteArrayView reason)
{
    const QByteArrayView text = reason.first(qMin<qsizetype>(reason.size(), 123));
    QByteArray frame;
    frame.reserve(4 + text.size());
    appendFrameHeader(frame, Opcode::Close, quint64(2 + text.size()));
    frame.append(char(code >> 8));
    frame.append(char(code & 0xff));
    frame.append(text);
    return frame;
}

ClientFrameReader::ClientFrameReader(qint64 maxMessageSize,
                                     std::optional<DeflateParameters> deflate)
    : m_maxMessageSize(maxMessageSize), m_deflate(std::move(deflate))
{
}

ClientFrameReader::~ClientFrameReader() = default;

void ClientFrameReader::refuse(Output &out, quint16 code, const char *reason)
{
    out.reply += closeFrame(code, reason);
    out.closeCode = code;
    out.closeReason = QString::fromLatin1(reason);
    m_closed = true;
    m_message.clear();
    m_inflater.reset();
}

void ClientFrameReader::unmask(char *to, const char *from, qsizetype n)
{
    // The key, turned to where this frame's payload has got to, then eight bytes a step.
    quint8 key[8];
    for (int k = 0; k < 8; ++k)
        key[k] = m_mask[(m_maskPos + quint64(k)) % 4];
    quint64 wide;
    std::memcpy(&wide, key, sizeof wide);
    qsizetype k = 0;
    for (; k + 8 <= n; k += 8) {
        quint64 word;
        std::memcpy(&word, from + k, sizeof word);
        word ^= wide;
        std::memcpy(to + k, &word, sizeof word);
    }
    for (; k < n; ++k)
        to[k] = char(from[k] ^ key[k % 8]);
    m_maskPos += quint64(n);
}

void ClientFrameReader::feed(QByteArrayView bytes, Output &out)
{
    qsizetype i = 0;
    while (i < bytes.size() && !m_closed) {
        if (m_inPayload) {
            const auto n = qsizetype(qMin<quint64>(m_remaining, quint64(bytes.size() - i)));
            takePayload(bytes.sliced(i, n), out);
            i += n;
            if (!m_closed && m_remaining == 0)
                finishFrame(out);
            continue;
        }
        // The header: 2 bytes, the extended length, the 4-byte mask.
        m_header[m_headerSize++] = static_cast<quint8>(bytes[i++]);
        if (m_headerSize < 2)
            continue;
        const auto byte1 = static_cast<quint8>(m_header[1]);
        if (!(byte1 & 0x80)) {
            refuse(out, 1002, "client frames must be masked");
            return;
        }
        const quint8 length7 = byte1 & 0x7f;
        const qsizetype extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
        if (m_headerSize < 2 + extended + 4)
            continue;
        if (!startFrame(out))
            return;
        if (m_remaining == 0)
            finishFrame(out);
    }
}

bool ClientFrameReader::startFrame(Output &out)
{
    const auto byte0 = static_cast<quint8>(m_header[0]);
    const auto byte1 = static_cast<quint8>(m_header[1]);
    const quint8 length7 = byte1 & 0x7f;
    const qsizetype extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    quint64 length = length7;
    if (extended) {
        length = 0;
        for (qsizetype k = 0; k < extended; ++k)
            length = (length << 8) | static_cast<quint8>(m_header[2 + k]);
    }
    for (int k = 0; k < 4; ++k)
        m_mask[k] = static_cast<quint8>(m_header[2 + extended + k]);
    m_maskPos = 0;
    m_fin = byte0 & 0x80;
    const bool rsv1 = byte0 & 0x40;
    const quint8 opcode = byte0 & 0x0f;

    if (byte0 & 0x30) {
        refuse(out, 1002, "reserved bits set");
        return false;
    }
    if (!isKnownOpcode(opcode)) {
        refuse(out, 1002, "unknown opcode");
        return false;
    }
    if (isControl(opcode)) {
        if (rsv1) {
            refuse(out, 1002, "RSV1 on a control frame");
            return false;
        }
        if (!m_fin || length > 125) {
            refuse(out, 1002, "control frames must be whole and at most 125 bytes");
            return false;
        }
        // Control frames may come between fragments; they go to Qt as they are.
        appendFrameHeader(out.forReader, opcode, length);
        m_frameMode = Mode::PassThrough;
    } else {
        const bool continuation = opcode == Opcode::Continuation;
        if (continuation != m_inMessage) {
            refuse(out, 1002,
                   continuation ? "continuation frame without a message"
                                : "new message inside a fragmented one");
            return false;
        }
        if (rsv1 && (continuation || !m_deflate)) {
            refuse(out, 1002,
                   continuation ? "RSV1 on a continuation frame"
                                : "RSV1 set but permessage-deflate was not negotiated");
            return false;
        }
        if (!continuation) {
            m_messageOpcode = opcode;
            m_messageSize = 0;
            // Compressed messages are inflated whole; fragmented text is joined (see the class).
            m_messageMode = rsv1
                    ? Mode::Inflate
                    : (opcode == Opcode::Text && !m_fin ? Mode::Join : Mode::PassThrough);
            if (m_messageMode == Mode::Inflate && !m_inflater)
                m_inflater = std::make_unique<Inflater>(*m_deflate);
        }
        m_frameMode = m_messageMode;
        if (m_frameMode != Mode::Inflate) {
            // Known from the header: a message over the limit is refused before any of it
            // is read or buffered. (Compressed ones are checked as they inflate.)
            if (quint64(m_messageSize) + length > quint64(m_maxMessageSize)) {
                refuse(out, 1009, "message too big");
                return false;
            }
            m_messageSize += qint64(length);
        }
        if (m_frameMode == Mode::PassThrough)
            appendFrameHeader(out.forReader, opcode, length, m_fin);
        m_inMessage = !m_fin;
        m_wireBytes += length;
    }
    m_headerSize = 0;
    m_remaining = length;
    m_inPayload = true;
    return true;
}

void ClientFrameReader::takePayload(QByteArrayView masked, Output &out)
{
    m_remaining -= quint64(masked.size());
    switch (m_frameMode) {
    case Mode::PassThrough: {
        const qsizetype at = out.forReader.size();
        out.forReader.resize(at + masked.size());
        unmask(out.forReader.data() + at, masked.data(), masked.size());
        return;
    }
    case Mode::Join: {
        const qsizetype at = m_message.size();
        m_message.resize(at + masked.size());
        unmask(m_message.data() + at, masked.data(), masked.size());
        return;
    }
    case Mode::Inflate: {
        // One scratch buffer per thread: the unmasked piece is only needed while inflating.
        static thread_local QByteArray clear;
        clear.resize(masked.size());
        unmask(clear.data(), masked.data(), masked.size());
        const auto status = m_inflater->feed(clear, m_message, m_maxMessageSize);
        if (status == Inflater::Status::TooBig)
            refuse(out, 1009, "message too big");
        else if (status == Inflater::Status::Corrupt)
            refuse(out, 1007, "invalid compressed data");
        m_messageSize = m_message.size();
        return;
    }
    }
}

void ClientFrameReader::finishFrame(Output &out)
{
    m_inPayload = false;
    const bool lastOfJoined = m_frameMode != Mode::PassThrough && m_fin;
    if (!lastOfJoined)
        return; // more fragments to come, or the frame went to Qt as it arrived
    // The last fragment of a joined or compressed message: hand Qt the whole message.
    if (m_frameMode == Mode::Inflate) {
        const auto status = m_inflater->finish(m_message, m_maxMessageSize);
        if (status != Inflater::Status::Ok) {
            refuse(out, status == Inflater::Status::TooBig ? 1009 : 1007,
                   status == Inflater::Status::TooBig ? "message too big"
                                                      : "invalid compressed data");
            return;
        }
    }
    appendFrameHeader(out.forReader, m_messageOpcode, quint64(m_message.size()));
    out.forReader += m_message;
    m_message.clear();
    m_messageSize = 0;
}

} // namespace Switchboard
