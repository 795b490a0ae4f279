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
    /*!
        A request body must arrive within this time of its head's end, extended by 1 s
        for every bodyMinRate bytes received (Apache mod_reqtimeout's body=20,MinRate=500).
    */
    std::chrono::milliseconds bodyTimeout{20'000};
    qint64 bodyMinRate = 500; //!< bytes per second that earn more time; 0 = bodyTimeout is fixed
    qsizetype maxHeaderSize = 16 * 1024; //!< request line + fields, bytes
    int maxHeaderFields = 100;
    qint64 maxBodySize = 1024 * 1024;
    int maxConnections = 10'000;
};

/*! A request head that passed every check. */
struct RequestHead
{
    QByteArray method;
    QByteArray target;
    int minorVersion = 1; //!< HTTP/1.x
    QList<std::pair<QByteArray, QByteArray>> fields; //!< names lower-cased, in order
    std::optional<qint64> contentLength;
    bool chunked = false;
    bool keepAlive = true;
    bool expectContinue = false;
    /*!
        `Connection: upgrade` and `Upgrade: websocket`: the front door takes the
        request over instead of passing it to QtHttpServer. Decided here, once.
    */
    bool webSocketUpgrade = false;
    /*!
        Hop-by-hop fields the front door acts on itself (Upgrade, Expect, a
        Connection that mentions upgrade) are present: the head Qt sees is
        rebuilt without them, so QtHttpServer never answers 100 Continue a
        second time and never takes a request for a WebSocket upgrade.
    */
    bool needsRewrite = false;

    /*! First value of field \a name (lower case), or a null array. */
    QByteArray field(QByteArrayView name) const;
    /*! Every value of field \a name, in order. */
    QList<QByteArray> fieldValues(QByteArrayView name) const;
    bool operator==(const RequestHead &) const = default;
};

/*! Why a request was refused: the HTTP status and a message for the body. */
struct HttpRefusal
{
    int status = 400;
    QByteArray message;
};

/*! A character of an HTTP token (RFC 9110 §5.6.2 tchar). */
bool isTokenChar(char c);
/*!
    An HTTP token: field names, methods, and the names RFC 6455 builds on them
    (subprotocols, extensions and their parameters). The one place they are checked.
*/
bool isToken(QByteArrayView text);

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
    error response), and whether to close the connection. A WebSocket upgrade
    head is not passed on: it is returned parsed, with whatever followed it,
    and the guard stops (the WebSocket layer reads the rest).
*/
class ConnectionGuard final
{
public:
    enum class State { Head, Body, ChunkedBody, Upgraded, Closed };

    /*! A plain request whose head and body were released in full. */
    struct Request
    {
        RequestHead head;
        bool closeAfterResponse = false; //!< HTTP/1.0 without keep-alive, or Connection: close
        bool operator==(const Request &) const = default;
    };

    struct Result
    {
        QByteArray release; //!< HTTP bytes for QtHttpServer, in order
        QByteArray reply; //!< bytes to write to the client ourselves
        bool close = false; //!< close after reply (and after the responses still due)
        int refusedStatus = 0; //!< the HTTP status of a refusal
        QList<Request> completed; //!< plain requests completed by this feed, in order
        bool rewroteHead = false; //!< a head in release was rebuilt (see RequestHead::needsRewrite)
        std::optional<RequestHead> upgrade; //!< a WebSocket upgrade head (not in release)
        QByteArray afterUpgrade; //!< bytes that followed the upgrade head, unexamined
    };

    explicit ConnectionGuard(const HttpLimits &limits) : m_limits(limits) { }

    Result feed(QByteArrayView bytes);
    /*! The error response for \a status (also used for 408/503 by the socket layer). */
    static QByteArray errorResponse(int status, const QByteArray &message);

    State state() const { return m_state; }
    /*! True between the first byte of a request head and its end (header timeout runs). */
    bool inHead() const { return m_state == State::Head && !m_head.isEmpty(); }
    /*! True while a request body is being released (the body deadline runs). */
    bool inBody() const { return m_state == State::Body || m_state == State::ChunkedBody; }
    /*! True when the last complete request asked for the connection to close. */
    bool closeAfterResponse() const { return m_closeAfterResponse; }

private:
    void refuse(Result &result, int status, const QByteArray &message);
    bool feedChunked(QByteArrayView &bytes, Result &result);
    void finishRequest(Result &result);
    static QByteArray rewrittenHead(const RequestHead &head);

    HttpLimits m_limits;
    State m_state = State::Head;
    QByteArray m_head;
    RequestHead m_current; // the request whose body is being released
    qint64 m_bodyRemaining = 0;
    bool m_closeAfterResponse = false;

    // Chunked transfer coding (RFC 9112 §7.1)
    enum class Chunk { Size, Extension, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf };
    Chunk m_chunk = Chunk::Size;
    quint64 m_chunkSize = 0;
    int m_chunkDigits = 0;
    qint64 m_chunkedTotal = 0;
    int m_trailerLineLength = 0;
};

} // namespace Switchboard
