#pragma once

// A client-to-server WebSocket frame, written out by hand for the tests and
// fuzzers that feed the server's frame reader. Kept apart from the server's
// own encoder (which never masks) so that the inputs do not share its bugs.

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

namespace TestUtil {

/*!
    A masked frame (RFC 6455 §5.2): \a first is the FIN/RSV/opcode byte as it
    goes on the wire, the length takes the shortest encoding for \a payload,
    and the payload is masked with the four bytes of \a mask.
*/
inline QByteArray maskedFrame(quint8 first, QByteArrayView payload,
                              QByteArrayView mask = "\x11\x22\x33\x44")
{
    Q_ASSERT(mask.size() == 4);
    QByteArray frame;
    frame.reserve(14 + payload.size());
    frame.append(char(first));
    const auto size = quint64(payload.size());
    if (size < 126) {
        frame.append(char(0x80 | size));
    } else if (size <= 0xffff) {
        frame.append(char(0x80 | 126));
        frame.append(char(size >> 8));
        frame.append(char(size & 0xff));
    } else {
        frame.append(char(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            frame.append(char((size >> shift) & 0xff));
    }
    frame.append(mask);
    for (qsizetype i = 0; i < payload.size(); ++i)
        frame.append(char(payload[i] ^ mask[i % 4]));
    return frame;
}

} // namespace TestUtil
