#include "reload.h"

#include "http/server.h"
#include "logging.h"
#include "net/tls.h"
#include "routes.h"
#include "websocket/originpolicy.h"

namespace Switchboard {

ReloadResult applyReload(Server &server, AdminTokens &tokens, CommandLine &running,
                         const CommandLine &next)
{
    ReloadResult result;
    compareForReload(running, next, &result.applied, &result.needRestart);
    const ServerConfig &before = running.config;
    ServerConfig after = next.config;
    const auto keep = [&](const QString &option) {
        result.applied.removeAll(option);
        if (!result.needRestart.contains(option))
            result.needRestart.append(option);
    };

    // Turning TLS on or off changes every URL the server has handed out.
    const bool tlsBefore = !before.tlsCertificate.isEmpty();
    if (tlsBefore != !after.tlsCertificate.isEmpty()) {
        keep(QStringLiteral("tls-cert"));
        keep(QStringLiteral("tls-key"));
        after.tlsCertificate = before.tlsCertificate;
        after.tlsKey = before.tlsKey;
    } else if (tlsBefore) {
        QString error;
        const auto tls = loadTlsConfiguration(after.tlsCertificate, after.tlsKey, &error);
        if (tls) {
            server.setTlsConfiguration(*tls);
        } else {
            qCWarning(lcApp, "reload: %s; keeping the certificate in use", qPrintable(error));
            keep(QStringLiteral("tls-cert"));
            keep(QStringLiteral("tls-key"));
            after.tlsCertificate = before.tlsCertificate;
            after.tlsKey = before.tlsKey;
        }
    }

    if (after.logFile != before.logFile) {
        QString error;
        if (!openLogFile(after.logFile, &error)) {
            qCWarning(lcApp, "reload: cannot open the log file '%s' (%s); logging where before",
                      qPrintable(after.logFile), qPrintable(error));
            keep(QStringLiteral("log-file"));
            after.logFile = before.logFile;
        }
    }
    applyLogLevel(after.logLevel);
    setLogFormat(after.logFormat);
    server.setOriginPolicy(OriginPolicy(after.allowedOrigins));
    server.setClientToken(after.clientToken);
    // No admin token configured, before or now: keep the one generated at the start,
    // which the operator has already been given.
    if (after.adminTokenGenerated && before.adminTokenGenerated)
        after.adminToken = before.adminToken;
    tokens.admin = after.adminToken;
    tokens.metrics = after.metricsToken;
    if (after.adminTokenGenerated && !before.adminTokenGenerated)
        qCWarning(lcApp,
                  "reload: no admin token is configured any more; the admin routes now "
                  "take a generated one, printed at the start of the next run only");

    // What waits for a restart stays as it was, so the next reload names it again.
    CommandLine inEffect = next;
    inEffect.config = after;
    for (const QString &option : std::as_const(result.needRestart)) {
        if (running.isGiven(option))
            inEffect.given.insert(option, running.given.value(option));
        else
            inEffect.given.remove(option);
    }
    running = inEffect;

    if (!result.needRestart.isEmpty())
        qCWarning(lcApp, "reload: %s changed but only take effect after a restart",
                  qPrintable(result.needRestart.join(QStringLiteral(", "))));
    qCInfo(lcApp, "reloaded the configuration: %s",
           result.applied.isEmpty()
                   ? "nothing to change"
                   : qPrintable(result.applied.join(QStringLiteral(", ")) + u" applied"));
    return result;
}

} // namespace Switchboard
