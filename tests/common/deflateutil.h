#pragma once

// The client side of permessage-deflate, played by zlib directly, for tests of
// what the server inflates: raw DEFLATE, each message ending with a sync flush
// whose 0x00 0x00 0xff 0xff tail is removed (RFC 7692 §7.2.1). With context
// takeover the stream carries on from one message to the next.

#include <QtCore/QByteArray>
#include <QtCore/QtGlobal>

#include <zlib.h>

namespace TestUtil {

inline const QByteArray kDeflateTail = QByteArray::fromHex("0000ffff");

class ClientCompressor
{
public:
    explicit ClientCompressor(int windowBits = 15, bool contextTakeover = false, int level = 6)
        : m_contextTakeover(contextTakeover)
    {
        if (deflateInit2(&m_zs, level, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            qFatal("deflateInit2 failed");
    }
    ~ClientCompressor() { deflateEnd(&m_zs); }
    Q_DISABLE_COPY_MOVE(ClientCompressor)

    QByteArray compress(QByteArrayView message, int flush = Z_SYNC_FLUSH)
    {
        if (!m_contextTakeover)
            deflateReset(&m_zs);
        if (message.isEmpty() && flush == Z_SYNC_FLUSH) {
            // zlib refuses a second sync flush with no input in between (Z_BUF_ERROR, "no
            // progress possible"), which an empty message after another is with context
            // takeover. An empty message is then one empty stored block, 00 00 00 ff ff,
            // which is 00 once the tail goes.
            return QByteArray(1, '\0');
        }
        QByteArray out(qsizetype(deflateBound(&m_zs, uLong(message.size()))) + 64, '\0');
        m_zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(message.data()));
        m_zs.avail_in = uInt(message.size());
        m_zs.next_out = reinterpret_cast<Bytef *>(out.data());
        m_zs.avail_out = uInt(out.size());
        const int ret = deflate(&m_zs, flush);
        if ((ret != Z_OK && ret != Z_STREAM_END) || m_zs.avail_in != 0 || m_zs.avail_out == 0)
            qFatal("deflate failed");
        out.truncate(out.size() - qsizetype(m_zs.avail_out));
        if (flush == Z_SYNC_FLUSH) {
            if (!out.endsWith(kDeflateTail))
                qFatal("no sync flush tail");
            out.chop(kDeflateTail.size());
        }
        return out;
    }

    void setDictionary(QByteArrayView dictionary)
    {
        deflateSetDictionary(&m_zs, reinterpret_cast<const Bytef *>(dictionary.data()),
                             uInt(dictionary.size()));
    }

private:
    z_stream m_zs{};
    bool m_contextTakeover;
};

// An independent receiver: zlib inflating payload + tail in one go.
struct ZlibInflated
{
    bool ok = false; // no data error, and the message ended on a block boundary
    bool streamEnded = false; // a BFINAL block ended it (and zlib read no further)
    QByteArray data;
};

inline ZlibInflated zlibInflate(QByteArrayView payload, int windowBits = 15)
{
    ZlibInflated result;
    z_stream zs{};
    if (inflateInit2(&zs, -windowBits) != Z_OK)
        return result;
    const QByteArray in = payload.toByteArray() + kDeflateTail;
    char buffer[4096];
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    zs.avail_in = uInt(in.size());
    int ret = Z_OK;
    bool atBlockBoundary = false;
    do {
        zs.next_out = reinterpret_cast<Bytef *>(buffer);
        zs.avail_out = sizeof buffer;
        const uInt inBefore = zs.avail_in;
        ret = inflate(&zs, Z_SYNC_FLUSH);
        result.data.append(buffer, qsizetype(sizeof buffer - zs.avail_out));
        // data_type & 128: stopped after a block's end; an idle call forgets it.
        if (zs.avail_in != inBefore || zs.avail_out != sizeof buffer)
            atBlockBoundary = zs.data_type & 128;
    } while (ret == Z_OK && zs.avail_out == 0);
    result.streamEnded = ret == Z_STREAM_END;
    result.ok = (ret == Z_OK || ret == Z_BUF_ERROR) && atBlockBoundary;
    inflateEnd(&zs);
    return result;
}

} // namespace TestUtil
