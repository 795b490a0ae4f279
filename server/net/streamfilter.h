#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QString>

namespace Switchboard {

/*!
    What the front door runs the bytes after an accepted upgrade through
    before the upgraded connection's reader sees them. The WebSocket layer
    provides the one in use (ClientFrameReader); the front door only knows
    this interface, so it stays free of any protocol after HTTP.
*/
class StreamFilter
{
public:
    struct Output
    {
        QByteArray forReader; //!< what the reader may read, in order
        QByteArray reply; //!< bytes for the peer, written before anything else from now on
        quint16 closeCode = 0; //!< non-zero: the filter refused the stream; close after reply
        QString closeReason;
    };

    virtual ~StreamFilter() = default;
    /*! Takes \a bytes as they arrive and appends to \a out. */
    virtual void feed(QByteArrayView bytes, Output &out) = 0;
};

} // namespace Switchboard
