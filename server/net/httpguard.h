#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>

#include <chrono>
#include <optional>

namespace Switchboard {

/*! Limits the front door enforces before QtHttpServer's parser sees a byte. */
struct HttpLimits
{
    std::chrono::milliseconds headerTimeout{10'000}; //!< a request head must complete in this time
    std::chrono::milliseconds keepAliveTimeout{30'000}; //!< idle keep-alive connections are closed
    qsizetype maxHeaderSize = 16 * 1024; //!< request line + fields, bytes
    int maxHeaderFields = 100;
    qint64 maxBodySize = 1024 * 1024;
    int maxConnections = 10'000;
    qint64 maxWebSocketMessage = 16 * 1024 * 1024; //!< bound for joining text fragments (1009)
};

/*! A request head that passed every check. */
struct RequestHead
{
    QByteArray method;
    QByteArray target;
    int minorVersion = 1; //!< HTTP/1.x
    QList<std::pair<QByteArray, QByteArray>> fields; //!< names lower-cased
    std::optional<qint64> contentLength;
    bool chunked = false;
    bool keepAlive = true;
    bool expectContinue = false;
    bool webSocketUpgrade = false;
};

/*! Why a request was refused: the HTTP status and a message for the body. */
struct HttpRefusal
{
    int status = 400;
    QByteArray message;
};

/*!
    Parses and checks one request head (request line and fields, up to but not
    including the empty line). Stricter than QtHttpServer 6.4's parser on
    purpose: anything it would misread (duplicate or malformed Content-Length,
    Content-Length with Transfer-Encoding, obsolete line folding, bare LF, NUL)
    is refused here so it never reaches a route.
*/
std::optional<RequestHead> parseRequestHead(QByteArrayView head, const HttpLimits &limits,
                                            HttpRefusal *refusal);

/*!
    The per-connection HTTP/1.1 framing state machine of the front door. It
    works on bytes only (no socket), so it is unit-tested and fuzzed directly.

    feed() takes bytes as they arrive and returns what may be passed on to
    QtHttpServer (whole, valid request heads, then exactly the body bytes their
    framing announces), what to send back directly (`100 Continue`, or an
    error response), and whether to close the connection.
*/
class ConnectionGuard final
{
public:
    enum class State { Head, Body, ChunkedBody, Upgraded, Closed };

    struct Result
    {
        QByteArray release; //!< HTTP bytes for QtHttpServer, in order
        QByteArray upgraded; //!< bytes after an accepted upgrade head (WebSocket frames)
        QByteArray reply; //!< bytes to write to the client ourselves
        bool close = false; //!< close after reply (and after the responses still due)
        int refusedStatus = 0; //!< HTTP status, or WebSocket close code after an upgrade
        QList<bool> completed; //!< one per complete plain request: close after its response?
    };

    explicit ConnectionGuard(const HttpLimits &limits) : m_limits(limits) { }

    Result feed(QByteArrayView bytes);
    /*! The error response for \a status (also used for 408/503 by the socket layer). */
    static QByteArray errorResponse(int status, const QByteArray &message);

    State state() const { return m_state; }
    /*! True between the first byte of a request head and its end (header timeout runs). */
    bool inHead() const { return m_state == State::Head && !m_head.isEmpty(); }
    /*! True when the last complete request asked for the connection to close. */
    bool closeAfterResponse() const { return m_closeAfterResponse; }

private:
    void refuse(Result &result, int status, const QByteArray &message);
    bool feedChunked(QByteArrayView &bytes, Result &result);
    bool feedFrames(QByteArrayView bytes, Result &result);
    void finishRequest(Result &result);

    HttpLimits m_limits;
    State m_state = State::Head;
    QByteArray m_head;
    qint64 m_bodyRemaining = 0;
    bool m_closeAfterResponse = false;
    bool m_upgradeAfterHead = false;

    // Chunked transfer coding (RFC 9112 §7.1)
    enum class Chunk { Size, Extension, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf };
    Chunk m_chunk = Chunk::Size;
    quint64 m_chunkSize = 0;
    int m_chunkDigits = 0;
    qint64 m_chunkedTotal = 0;
    int m_trailerLineLength = 0;

    // Client-to-server WebSocket frames (RFC 6455 §5.2), after an upgrade. Two
    // QtWebSockets 6.4 gaps are closed here: unmasked client frames are refused
    // (§5.1), and a fragmented text message is joined into one frame, because Qt
    // checks UTF-8 per fragment and refuses a character split across two. Frames
    // are passed on unmasked: Qt accepts that, and unmasks far slower than unmask().
    void refuseFrames(Result &result, quint16 code, const QByteArray &reason);
    void finishFrame(Result &result);
    void unmask(char *to, const char *from, qsizetype n);
    QByteArray m_frameHeader; // the current frame's header while it arrives
    bool m_inPayload = false;
    bool m_joining = false; // a fragmented text message is being joined
    bool m_frameJoined = false; // the current frame's payload goes into m_message
    bool m_joiningFin = false;
    quint64 m_frameLength = 0; // payload bytes still to come
    quint8 m_mask[4] = {};
    quint64 m_maskPos = 0;
    QByteArray m_message; // unmasked payload of the text message being joined
};

} // namespace Switchboard
