#pragma once

// Helpers shared by the network tests: a raw HTTP/1.1 client and a recording
// WebSocket client, both driven by the event loop (the server under test runs
// in the same thread, so blocking waits would starve it).

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>
#include <QtWebSockets/QWebSocket>

#include "clientframe.h"

#include <functional>
#include <memory>

namespace TestUtil {

/*! A self-signed certificate for localhost and its key, made by openssl (Debian openssl). */
inline bool makeCertificate(const QString &cert, const QString &key)
{
    QProcess openssl;
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                   QStringLiteral("rsa:2048"), QStringLiteral("-nodes"), QStringLiteral("-keyout"),
                   key, QStringLiteral("-out"), cert, QStringLiteral("-days"), QStringLiteral("1"),
                   QStringLiteral("-subj"), QStringLiteral("/CN=localhost")});
    return openssl.waitForFinished(30000) && openssl.exitCode() == 0;
}

/*! Spins the event loop until \a done or \a timeoutMs passes; returns done(). */
inline bool waitFor(const std::function<bool()> &done, int timeoutMs = 5000)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!done() && !deadline.hasExpired())
        QTest::qWait(5);
    return done();
}

struct HttpResponse
{
    int status = 0;
    QList<std::pair<QByteArray, QByteArray>> headers;
    QByteArray body;
    QByteArray raw;
    bool complete = false;

    QByteArray header(QByteArrayView name) const
    {
        for (const auto &[key, value] : headers) {
            if (key.compare(name, Qt::CaseInsensitive) == 0)
                return value;
        }
        return {};
    }
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
};

/*! Parses the first response in \a raw; complete is false while bytes are missing. */
inline HttpResponse parseResponse(const QByteArray &raw, bool headRequest = false)
{
    HttpResponse response;
    response.raw = raw;
    const qsizetype headEnd = raw.indexOf("\r\n\r\n");
    if (headEnd < 0)
        return response;
    const QList<QByteArray> lines = raw.left(headEnd).split('\n');
    const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
    if (statusLine.size() < 2)
        return response;
    response.status = statusLine.at(1).toInt();
    qsizetype length = 0;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines.at(i).indexOf(':');
        if (colon < 0)
            continue;
        const QByteArray key = lines.at(i).left(colon).trimmed().toLower();
        const QByteArray value = lines.at(i).mid(colon + 1).trimmed();
        response.headers.append({key, value});
        if (key == "content-length")
            length = value.toLongLong();
    }
    if (headRequest)
        length = 0;
    const QByteArray rest = raw.mid(headEnd + 4);
    if (rest.size() < length)
        return response;
    response.body = rest.left(length);
    response.complete = true;
    return response;
}

/*!
    Sends \a request bytes as they are on a fresh connection and returns the
    first response. \a closed (optional) tells whether the server then closed.
*/
inline HttpResponse rawRequest(quint16 port, const QByteArray &request, bool headRequest = false,
                               bool *closed = nullptr, int timeoutMs = 5000)
{
    QTcpSocket socket;
    QByteArray received;
    bool disconnected = false;
    QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                     [&] { received += socket.readAll(); });
    QObject::connect(&socket, &QTcpSocket::disconnected, &socket, [&] { disconnected = true; });
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!waitFor([&] { return socket.state() == QAbstractSocket::ConnectedState; }, timeoutMs))
        return {};
    socket.write(request);
    waitFor([&] { return parseResponse(received, headRequest).complete || disconnected; },
            timeoutMs);
    if (closed) {
        waitFor([&] { return disconnected; }, 1000);
        *closed = disconnected;
    }
    return parseResponse(received, headRequest);
}

/*! A simple request with `Connection: close`. */
inline HttpResponse request(quint16 port, const QByteArray &method, const QByteArray &path,
                            const QList<std::pair<QByteArray, QByteArray>> &headers = {},
                            const QByteArray &body = {})
{
    QByteArray bytes = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1:"
            + QByteArray::number(port) + "\r\nConnection: close\r\n";
    for (const auto &[key, value] : headers)
        bytes += key + ": " + value + "\r\n";
    if (!body.isEmpty() || method == "POST" || method == "PUT")
        bytes += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    bytes += "\r\n" + body;
    return rawRequest(port, bytes, method == "HEAD");
}

/*! A raw connection that records everything received and whether the server closed it. */
struct RawConnection
{
    explicit RawConnection(quint16 port)
    {
        QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                         [this] { received += socket.readAll(); });
        QObject::connect(&socket, &QTcpSocket::disconnected, &socket, [this] { closed = true; });
        socket.connectToHost(QHostAddress::LocalHost, port);
        socket.waitForConnected(5000);
    }
    int status() const { return parseResponse(received).status; }

    QTcpSocket socket;
    QByteArray received;
    bool closed = false;
};

/*! A server-to-client frame as a raw test client reads it. */
struct ServerFrame
{
    quint8 first = 0; //!< FIN, RSV1..3 and opcode
    QByteArray payload;
    bool rsv1() const { return first & 0x40; }
    quint8 opcode() const { return first & 0x0f; }
};

/*!
    Takes the whole (unmasked) frames off the front of \a buffer, leaving a
    partial one there.
*/
inline QList<ServerFrame> takeServerFrames(QByteArray &buffer)
{
    QList<ServerFrame> frames;
    for (;;) {
        if (buffer.size() < 2)
            return frames;
        quint64 length = quint8(buffer[1]) & 0x7f;
        qsizetype header = 2;
        if (length >= 126) {
            const int bytes = length == 126 ? 2 : 8;
            if (buffer.size() < 2 + bytes)
                return frames;
            length = 0;
            for (int i = 0; i < bytes; ++i)
                length = (length << 8) | quint8(buffer[2 + i]);
            header += bytes;
        }
        if (quint64(buffer.size() - header) < length)
            return frames;
        frames.append({quint8(buffer[0]), buffer.mid(header, qsizetype(length))});
        buffer.remove(0, header + qsizetype(length));
    }
}

/*!
    A raw TCP client that upgrades to \a path with \a extraHeaders and then
    collects the server's frames: for what QWebSocket would hide (RSV1,
    compressed payloads) or not send.
*/
class RawWebSocket
{
public:
    RawWebSocket(quint16 port, const QByteArray &upgradeRequest)
    {
        QObject::connect(&socket, &QTcpSocket::readyRead, &socket, [this] {
            buffer += socket.readAll();
            if (!answered) {
                const qsizetype end = buffer.indexOf("\r\n\r\n");
                if (end < 0)
                    return;
                response = parseResponse(buffer.left(end + 4));
                buffer.remove(0, end + 4);
                answered = true;
            }
            frames += takeServerFrames(buffer);
        });
        QObject::connect(&socket, &QTcpSocket::disconnected, &socket, [this] { closed = true; });
        socket.connectToHost(QHostAddress::LocalHost, port);
        socket.waitForConnected(5000);
        socket.write(upgradeRequest);
    }
    /*! Waits for the response head (a 101, or a refusal); false if none came. */
    bool waitAnswered()
    {
        return waitFor([this] { return answered || closed; }) && answered;
    }
    void send(const QByteArray &bytes) { socket.write(bytes); }

    QTcpSocket socket;
    QByteArray buffer;
    HttpResponse response;
    QList<ServerFrame> frames;
    bool answered = false; // the response head arrived (a 101, or a refusal)
    bool closed = false;
};

/*! A QWebSocket that records everything it receives. */
class Client
{
public:
    explicit Client(const QString &url, const QByteArray &origin = {})
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &text) { texts.append(text); });
        QObject::connect(&socket, &QWebSocket::binaryMessageReceived, &socket,
                         [this](const QByteArray &data) { binaries.append(data); });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket, [this] {
            closed = true;
            closeCode = int(socket.closeCode());
            closeReason = socket.closeReason();
        });
        QNetworkRequest request{QUrl(url)};
        if (!origin.isEmpty())
            request.setRawHeader("Origin", origin);
        socket.open(request);
    }

    /*! Waits for the connection and the `start` greeting. */
    bool waitGreeted(int timeoutMs = 5000)
    {
        return waitFor([this] { return !texts.isEmpty() || closed; }, timeoutMs) && !texts.isEmpty()
                && texts.first() == u"start";
    }

    QWebSocket socket;
    QStringList texts;
    QList<QByteArray> binaries;
    bool closed = false;
    int closeCode = -1;
    QString closeReason;
};

} // namespace TestUtil
