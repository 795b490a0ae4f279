#include "net/tls.h"

#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

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
    Whether the private key in \a keyPem is the one whose public key \a certificate
    carries. Qt cannot derive a public key from a private one, and with a wrong key
    its TLS backend fails with "Unable to init SSL Context: " and no reason.
*/
bool keyMatchesCertificate(const QSslCertificate &certificate, const QByteArray &keyPem)
{
    const QByteArray certificatePem = certificate.toPem();
    const std::unique_ptr<BIO, decltype(&BIO_free)> certificateBio(
            BIO_new_mem_buf(certificatePem.constData(), int(certificatePem.size())), BIO_free);
    const std::unique_ptr<BIO, decltype(&BIO_free)> keyBio(
            BIO_new_mem_buf(keyPem.constData(), int(keyPem.size())), BIO_free);
    if (!certificateBio || !keyBio)
        return false;
    const std::unique_ptr<X509, decltype(&X509_free)> x509(
            PEM_read_bio_X509(certificateBio.get(), nullptr, nullptr, nullptr), X509_free);
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
            PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    const bool matches = x509 && key && X509_check_private_key(x509.get(), key.get()) == 1;
    ERR_clear_error(); // Qt's TLS backend shares this thread's OpenSSL error queue
    return matches;
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

    if (!keyMatchesCertificate(chain.first(), *keyPem)) {
        *error = QStringLiteral("the key %1 does not belong to the certificate %2 (their public "
                                "keys differ); give the key that was made with that certificate")
                         .arg(keyPath, certificatePath);
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
