#pragma once

#include "websocket/frame.h"

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QUrlQuery>
#include <QtCore/QVariant>
#include <QtNetwork/QHostAddress>

#include <memory>
#include <optional>

namespace Switchboard {

class Hub;

/*!
    What a handler callback asks the session to do next: the equivalent of a
    cowboy_websocket command list. Empty means `{:ok, state}`; frames are sent
    in order (`{:reply, ...}`); a close ends the session after them
    (`{:stop, state}`).
*/
class Reply final
{
public:
    struct Close
    {
        quint16 code = 1000;
        QString reason;
    };

    Reply() = default;
    static Reply none() { return {}; }
    static Reply frame(Frame frame) { return Reply().then(std::move(frame)); }
    static Reply text(const QString &text) { return frame(Frame::text(text)); }
    static Reply binary(QByteArray data) { return frame(Frame::binary(std::move(data))); }
    static Reply close(quint16 code = 1000, QString reason = {})
    {
        return Reply().thenClose(code, std::move(reason));
    }

    Reply &then(Frame frame)
    {
        m_frames.append(std::move(frame));
        return *this;
    }
    Reply &thenClose(quint16 code = 1000, QString reason = {})
    {
        m_close = Close{code, std::move(reason)};
        return *this;
    }

    const QList<Frame> &frames() const { return m_frames; }
    const std::optional<Close> &closeCommand() const { return m_close; }
    bool isEmpty() const { return m_frames.isEmpty() && !m_close; }

private:
    QList<Frame> m_frames;
    std::optional<Close> m_close;
};

/*! The upgrade request as init() sees it (no socket). */
struct UpgradeRequest
{
    QByteArray path;
    QUrlQuery query;
    QList<std::pair<QByteArray, QByteArray>> headers; //!< names lower-cased
    QHostAddress peerAddress;
    quint16 peerPort = 0;
    QByteArray requestId;
    /*! The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its order of preference. */
    QList<QByteArray> protocols;

    QByteArray header(QByteArrayView name) const;
    bool offers(QByteArrayView protocol) const { return protocols.contains(protocol); }
};

/*!
    The answer of init(): accept the upgrade (with one of the offered
    subprotocols, or none), or refuse it with an HTTP status.
*/
struct InitResult
{
    bool accepted = true;
    int status = 101;
    QString message;
    QByteArray protocol; //!< the chosen subprotocol; empty = none

    /*! Accepts; \a protocol, if given, must be one the client offered. */
    static InitResult accept(QByteArray protocol = {})
    {
        return {true, 101, {}, std::move(protocol)};
    }
    static InitResult refuse(int status, QString message = {})
    {
        return {false, status, std::move(message), {}};
    }
};

/*! Why a session ended; what terminate() is told. */
struct TerminateReason
{
    enum class Kind {
        RemoteClose, //!< the peer sent a close frame (code/reason are the peer's)
        LocalClose, //!< a handler callback returned Reply::close()
        IdleTimeout, //!< nothing arrived for --idle-timeout
        PingTimeout, //!< two pings in a row went unanswered
        TooBig, //!< a message over --max-message-size (closed with 1009)
        SlowConsumer, //!< unsent data over --max-send-buffer (closed with 1008)
        Error, //!< a transport or protocol error, or the peer vanished
        Shutdown, //!< the server is stopping (closed with 1001)
        Operator, //!< closed from the GUI or the admin API (4000)
    };
    Kind kind = Kind::Error;
    quint16 code = 0;
    QString detail;

    /*! A short phrase for logs and the GUI, e.g. "remote close (1000)". */
    QString toString() const;
};

/*!
    What a handler can see of its session and do besides replying: its id,
    where it came from, and the hub (to reach other sessions).
*/
class SessionContext
{
public:
    virtual ~SessionContext() = default;
    virtual quint64 id() const = 0;
    virtual QByteArray path() const = 0;
    virtual QHostAddress peerAddress() const = 0;
    virtual quint16 peerPort() const = 0;
    /*! The subprotocol init() chose, or empty. */
    virtual QByteArray protocol() const = 0;
    /*! Whether permessage-deflate was negotiated. */
    virtual bool isCompressed() const = 0;
    virtual Hub &hub() const = 0;
};

/*!
    A WebSocket handler, modelled on Erlang's cowboy_websocket behaviour.

    One instance is made per upgrade request, so members are per-session
    state (Cowboy's `state`). Callbacks run on the session's thread; none
    sees the socket, so the transport underneath can change freely.

    \list
    \li init() runs before the 101: it sees the offered subprotocols and may
        pick one, or refuse with an HTTP status.
    \li websocketInit() runs right after the upgrade (Cowboy's websocket_init).
    \li handle() gets each frame from the client (websocket_handle).
    \li info() gets messages pushed from elsewhere in the app (websocket_info).
    \li terminate() is told why the session ended.
    \endlist
*/
class WebSocketHandler
{
public:
    virtual ~WebSocketHandler() = default;

    virtual InitResult init(const UpgradeRequest &request)
    {
        Q_UNUSED(request);
        return InitResult::accept();
    }
    virtual Reply websocketInit(SessionContext &session)
    {
        Q_UNUSED(session);
        return Reply::none();
    }
    /*!
        A frame from the client. Text and binary frames arrive as whole
        messages (inflated, if the client compressed them); pong frames arrive
        as Frame::Type::Pong. (QtWebSockets answers client pings itself and
        does not report them, see README.)
    */
    virtual Reply handle(SessionContext &session, const Frame &frame) = 0;
    /*!
        A message pushed with Hub::send(), Hub::broadcast() or Hub::post().
        The default sends a Frame as it is, a QString as text and a
        QByteArray as binary, and ignores anything else.
    */
    virtual Reply info(SessionContext &session, const QVariant &message);
    virtual void terminate(SessionContext &session, const TerminateReason &reason)
    {
        Q_UNUSED(session);
        Q_UNUSED(reason);
    }
};

/*! Makes one handler per upgrade request. */
using HandlerFactory = std::function<std::unique_ptr<WebSocketHandler>()>;

} // namespace Switchboard

Q_DECLARE_METATYPE(Switchboard::TerminateReason)
