// Switchboard's only wiring point: parse options, pick the application class,
// build the objects, connect them once, run.

#include "config.h"
#include "hub.h"
#include "logging.h"
#include "routes.h"
#include "server.h"
#include "unixsignals.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QTimer>

#include <cstdio>
#include <cstring>
#include <memory>

using namespace Switchboard;

namespace {

bool wantsGui(int argc, char **argv)
{
    // Decided before any application object exists: QApplication needs a
    // display, which a headless box does not have.
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--no-gui") == 0 || std::strcmp(argv[i], "-no-gui") == 0)
            return false;
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0
            || std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-v") == 0)
            return false;
    }
    return true;
}

void printLine(FILE *stream, const QString &text)
{
    std::fputs(qPrintable(text), stream);
    std::fputc('\n', stream);
    std::fflush(stream);
}

} // namespace

int main(int argc, char **argv)
{
    const bool gui = wantsGui(argc, argv);
    auto app = std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("switchboard"));
    QCoreApplication::setOrganizationName(QStringLiteral("Switchboard"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SWITCHBOARD_VERSION));

    const CommandLine cli = parseCommandLine(QCoreApplication::arguments());
    switch (cli.action) {
    case CommandLine::Action::Help:
    case CommandLine::Action::Version:
        printLine(stdout, cli.text);
        return 0;
    case CommandLine::Action::Error:
        printLine(stderr, cli.text);
        return 2;
    case CommandLine::Action::Run:
        break;
    }
    const ServerConfig &config = cli.config;
    applyLogLevel(config.logLevel);
    if (gui && !config.noGui)
        printLine(stderr,
                  QStringLiteral("Note: this build has no operator console yet; "
                                 "running headless (as with --no-gui)."));

    Hub hub(config.hub);
    Server server(&hub);
    installDefaults(server, config);

    if (!server.listen(config.host, config.port)) {
        printLine(stderr, QStringLiteral("Error: ") + server.errorString());
        return 1;
    }
    printLine(stdout,
              QStringLiteral("Switchboard listening on %1 (WebSocket %2)")
                      .arg(server.httpUrl(), server.webSocketUrl()));
    if (config.adminTokenGenerated)
        printLine(stdout,
                  QStringLiteral("Admin token (generated for this run; set --admin-token "
                                 "or SWITCHBOARD_ADMIN_TOKEN to choose one): %1")
                          .arg(QString::fromLatin1(config.adminToken)));

    // SIGINT/SIGTERM: close every session with 1001, stop listening, exit 0 within 2 s.
    UnixSignalWatcher signalWatcher;
    QObject::connect(
            &signalWatcher, &UnixSignalWatcher::terminationRequested, &hub, [&](int signal) {
                qCInfo(lcApp, "signal %d: closing %d session(s) and stopping", signal, hub.count());
                server.stopListening();
                hub.shutdown();
                QTimer::singleShot(1500, app.get(), [] { QCoreApplication::exit(0); });
            });
    QObject::connect(&hub, &Hub::drained, app.get(), [] { QCoreApplication::exit(0); });

    return QCoreApplication::exec();
}
