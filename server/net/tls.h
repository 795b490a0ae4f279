#pragma once

#include <QtCore/QString>
#include <QtNetwork/QSslConfiguration>

#include <optional>

namespace Switchboard {

/*!
    Loads a PEM certificate (chain) and private key for serving HTTPS and WSS,
    checks that the key is the certificate's (OpenSSL compares it with the
    certificate's public key) and proves the pair works with a TLS handshake over
    loopback before the server starts. Returns std::nullopt with \a error set to a message that
    names the file and the problem.
*/
std::optional<QSslConfiguration> loadTlsConfiguration(const QString &certificatePath,
                                                      const QString &keyPath, QString *error);

} // namespace Switchboard
