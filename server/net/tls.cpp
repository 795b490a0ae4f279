#include "net/tls.h"

#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>

namespace Switchboard {

namespace {

std::optional<QByteArray> readFile(const QString &path, const char *what, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read the TLS %1 %2: %3")
                         .arg(QLatin1String(what), path, file.errorString());
        return std::nullopt;
    }
    return file.readAll();
}

/*!
    Qt offers no way to ask whether a private key matches a certificate, so
    try it: a handshake between a QSslServer with this configuration and a
    client, both on loopback. A mismatch fails the server side at once.
*/
bool handshakeWorks(const QSslConfiguration &configuration, QString *problem)
{
    QSslServer server;
    server.setSslConfiguration(configuration);
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        *problem = server.errorString();
        return false;
    }
    QEventLoop loop;
    bool ok = false;
    QObject::connect(&server, &QSslServer::errorOccurred, &loop,
                     [&](QSslSocket *socket, QAbstractSocket::SocketError) {
                         *problem = socket->errorString();
                         loop.quit();
                     });
    QObject::connect(&server, &QSslServer::handshakeInterruptedOnError, &loop,
                     [&](QSslSocket *, const QSslError &sslError) {
                         *problem = sslError.errorString();
                         loop.quit();
                     });
    QSslSocket client;
    client.setPeerVerifyMode(QSslSocket::VerifyNone); // only the server side is in question
    QObject::connect(&client, &QSslSocket::encrypted, &loop, [&] {
        ok = true;
        loop.quit();
    });
    QObject::connect(&client, &QAbstractSocket::errorOccurred, &loop, [&] {
        if (problem->isEmpty())
            *problem = client.errorString();
    });
    QTimer::singleShot(5000, &loop, [&] {
        *problem = QStringLiteral("the test handshake timed out");
        loop.quit();
    });
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());
    loop.exec();
    return ok;
}

} // namespace

std::optional<QSslConfiguration> loadTlsConfiguration(const QString &certificatePath,
                                                      const QString &keyPath, QString *error)
{
    if (!QSslSocket::supportsSsl()) {
        *error = QStringLiteral("TLS is not available: Qt found no TLS backend (is libssl3 "
                                "installed?)");
        return std::nullopt;
    }
    const auto certificatePem = readFile(certificatePath, "certificate", error);
    if (!certificatePem)
        return std::nullopt;
    const auto keyPem = readFile(keyPath, "key", error);
    if (!keyPem)
        return std::nullopt;

    const QList<QSslCertificate> chain = QSslCertificate::fromData(*certificatePem, QSsl::Pem);
    if (chain.isEmpty() || chain.first().isNull()) {
        *error = QStringLiteral("%1 holds no PEM certificate").arg(certificatePath);
        return std::nullopt;
    }
    QSslKey key;
    for (const QSsl::KeyAlgorithm algorithm : {QSsl::Rsa, QSsl::Ec, QSsl::Dsa}) {
        key = QSslKey(*keyPem, algorithm, QSsl::Pem, QSsl::PrivateKey);
        if (!key.isNull())
            break;
    }
    if (key.isNull()) {
        *error = QStringLiteral("%1 holds no unencrypted PEM private key (RSA, EC or DSA)")
                         .arg(keyPath);
        return std::nullopt;
    }

    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificateChain(chain);
    configuration.setPrivateKey(key);
    configuration.setPeerVerifyMode(
            QSslSocket::VerifyNone); // clients are not asked for certificates
    QString problem;
    if (!handshakeWorks(configuration, &problem)) {
        *error = QStringLiteral("the key %1 does not work with the certificate %2 (%3); check "
                                "that they belong together")
                         .arg(keyPath, certificatePath, problem);
        return std::nullopt;
    }
    return configuration;
}

} // namespace Switchboard
