#pragma once

#include "net/httpguard.h"

#include <QtCore/QByteArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QJsonValue>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QUrlQuery>
#include <QtCore/QVariantMap>
#include <QtNetwork/QHostAddress>

#include <functional>
#include <utility>

class QJsonObject;

namespace Switchboard {

using HeaderList = QList<std::pair<QByteArray, QByteArray>>;

/*!
    One HTTP exchange as a plain value, modelled on Plug.Conn.

    The request half is filled in by the listener (or by a test), plugs and the
    router fill in the response half. Nothing here touches a socket, so the
    whole plug pipeline can be exercised with values alone.
*/
struct Conn
{
    // Request
    QByteArray method; //!< upper case, e.g. "GET"
    int minorVersion = 1; //!< HTTP/1.x
    QByteArray path; //!< percent-encoded path, no query
    QHash<QString, QString> pathParams; //!< decoded `:param` / `*rest` captures
    QUrlQuery query;
    HeaderList headers; //!< names lower-cased, order kept
    QByteArray body;
    QHostAddress peerAddress;
    quint16 peerPort = 0;
    bool upgrade = false; //!< a WebSocket upgrade request

    // Set by the router and plugs
    QString route; //!< the pattern of the route that matched ("/api/connections/:id"), if any
    QByteArray requestId;
    QVariantMap assigns;
    QJsonValue bodyJson = QJsonValue::Undefined; //!< parsed JSON body, if any

    // Response
    int status = 0; //!< 0 until something answers
    HeaderList respHeaders;
    QByteArray respBody;
    bool halted = false;

    QElapsedTimer clock; //!< started when the request was read
    QList<std::function<void(Conn &)>> beforeSend;

    /*!
        The request half from the front door's parse of the request head: method,
        path and query split from the target, the fields as the client sent them.
    */
    static Conn fromRequest(const RequestHead &head, const QHostAddress &peerAddress,
                            quint16 peerPort);

    /*! First value of request header \a name (lower case), or a null array. */
    QByteArray header(QByteArrayView name) const;
    bool hasHeader(QByteArrayView name) const;
    /*! Whether a comma-separated request header contains \a token (case-insensitive). */
    bool headerHasToken(QByteArrayView name, QByteArrayView token) const;

    /*! The request's media type, lower case, without parameters ("application/json"). */
    QByteArray contentType() const;
    /*! Whether the request body is JSON (`application/json` or any `*+json`). */
    bool hasJsonBody() const;

    QByteArray respHeader(QByteArrayView name) const;
    /*! Sets response header \a name, replacing any earlier value. */
    void putRespHeader(const QByteArray &name, const QByteArray &value);

    Conn &send(int status, const QByteArray &body, const QByteArray &contentType);
    Conn &sendJson(int status, const QJsonObject &object);
    Conn &sendJson(int status, const QJsonValue &value);
    /*! Answers `{"error":{"status":N,"message":"..."}}`. */
    Conn &sendError(int status, const QString &message);
    Conn &halt();

    /*! Runs the before-send callbacks once, last registered first (as Plug does). */
    void runBeforeSend();

    /*! The response as HTTP/1.1 bytes. HEAD keeps the headers and drops the body. */
    QByteArray serializeResponse(bool closeConnection) const;
};

/*! The standard reason phrase for \a status ("Not Found"), or "Unknown". */
QByteArray reasonPhrase(int status);

} // namespace Switchboard
