// Switchboard's only wiring point: parse options, pick the application class,
// build the objects, connect them once, run.

#include "cluster/cluster.h"
#include "config.h"
#include "websocket/hub.h"
#include "logging.h"
#include "routes.h"
#include "http/server.h"
#include "net/tls.h"
#include "platform/allocator.h"
#include "platform/limits.h"
#include "platform/servicenotify.h"
#include "platform/signals.h"
#include "reload.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QTimer>
#include <QtNetwork/QHostInfo>

#ifdef SWITCHBOARD_HAVE_GUI
#include "mainwindow.h"
#include "platform/display.h"
#include "uilatencyprobe.h"

#include <QtWidgets/QApplication>
#endif

#include <cstdio>
#include <memory>
#include <optional>

using namespace Switchboard;

namespace {

QStringList argumentsOf(int argc, char **argv)
{
    // As QCoreApplication::arguments() decodes them, before it exists.
    QStringList arguments;
    for (int i = 0; i < argc; ++i)
        arguments.append(QString::fromLocal8Bit(argv[i]));
    return arguments;
}

void useQtEventDispatcher(bool gui)
{
    // Headless, use Qt's own UNIX event dispatcher instead of glib's: glib finds
    // socket notifiers by scanning a list, and every write to a socket adds and
    // removes one, so with thousands of connections a broadcast, a ping round or
    // a burst of connects costs time quadratic in the number of clients (measured:
    // broadcast to 10,000 clients 2.9 s with glib, 0.22 s without). The console
    // keeps glib for desktop integration. An explicit QT_NO_GLIB wins either way.
    if (!gui && !qEnvironmentVariableIsSet("QT_NO_GLIB"))
        qputenv("QT_NO_GLIB", "1");
}

/*! "Error: what is wrong." (and a hint on the next line) as "what is wrong", for a log line. */
QString errorReason(const QString &text)
{
    QString reason = text.section(u'\n', 0, 0);
    if (reason.startsWith(u"Error: "))
        reason.remove(0, 7);
    if (reason.endsWith(u'.'))
        reason.chop(1);
    return reason;
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
    QCoreApplication::setApplicationName(QStringLiteral("switchboard"));
    QCoreApplication::setOrganizationName(QStringLiteral("Switchboard"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SWITCHBOARD_VERSION));

    // Read before the application object exists: whether to open the console
    // (QApplication needs a display) may come from the environment or the
    // configuration file as well as from --no-gui.
    const QStringList arguments = argumentsOf(argc, argv);
    const CommandLine cli = parseCommandLine(arguments);
    switch (cli.action) {
    case CommandLine::Action::Help:
    case CommandLine::Action::Version:
    case CommandLine::Action::PrintConfig:
        printLine(stdout, cli.text);
        return 0;
    case CommandLine::Action::Error:
        printLine(stderr, cli.text);
        return 2;
    case CommandLine::Action::Run:
        break;
    }
    CommandLine running = cli; // what a reload compares with
    const ServerConfig &config = cli.config;

    bool gui = !config.noGui;
#ifdef SWITCHBOARD_HAVE_GUI
    // QApplication aborts (exit 134) when its platform plugin cannot open the
    // display, so find out first and run headless instead: a missing or dead
    // display is not a reason to refuse serving.
    std::optional<QString> displayProblem;
    if (gui)
        displayProblem = unusableDisplay();
    if (displayProblem)
        gui = false;
    useQtEventDispatcher(gui);
    std::unique_ptr<QCoreApplication> app = gui ? std::make_unique<QApplication>(argc, argv)
                                                : std::make_unique<QCoreApplication>(argc, argv);
#else
    useQtEventDispatcher(gui);
    auto app = std::make_unique<QCoreApplication>(argc, argv);
#endif

    applyLogLevel(config.logLevel);
    setLogFormat(config.logFormat);
    if (!config.logFile.isEmpty()) {
        QString error;
        if (!openLogFile(config.logFile, &error)) {
            printLine(stderr,
                      QStringLiteral("Error: cannot open the log file '%1' (%2); check that its "
                                     "folder exists and is writable, or leave out --log-file "
                                     "to log to stderr.")
                              .arg(config.logFile, error));
            return 2;
        }
    }
#ifdef SWITCHBOARD_HAVE_GUI
    if (displayProblem)
        printLine(stderr,
                  QStringLiteral("switchboard: cannot open %1; running headless — pass --no-gui "
                                 "to say so, or set DISPLAY or WAYLAND_DISPLAY to a running "
                                 "display")
                          .arg(*displayProblem));
#else
    if (gui)
        printLine(stderr,
                  QStringLiteral("Note: this build has no operator console "
                                 "(SWITCHBOARD_BUILD_GUI=OFF); running headless."));
#endif

    tuneAllocator();
    // Thousands of connections need more descriptors than the usual soft limit of 1024.
    const quint64 files = raiseOpenFileLimit();
    if (files != 0 && files < quint64(config.http.maxConnections) + 64)
        qCWarning(lcApp,
                  "only %llu open files allowed (ulimit -n); fewer than --max-connections %d "
                  "can be served",
                  static_cast<unsigned long long>(files), config.http.maxConnections);

    Hub hub(config.hub);
    Server server(&hub);
    // Cluster mode only with --cluster: otherwise Redis is never touched.
    std::unique_ptr<Cluster> cluster;
    if (config.cluster.enabled())
        cluster = std::make_unique<Cluster>(&hub, config.cluster);
    const InstalledRoutes routes = installDefaults(server, config, cluster.get());
    if (!config.tlsCertificate.isEmpty()) {
        QString error;
        const auto tls = loadTlsConfiguration(config.tlsCertificate, config.tlsKey, &error);
        if (!tls) {
            printLine(stderr, QStringLiteral("Error: ") + error);
            return 2; // a bad --tls-cert/--tls-key value, like any other bad option
        }
        server.setTlsConfiguration(*tls);
    }

    // SIGINT/SIGTERM, or the console window closing: close every session with
    // 1001, stop listening, exit 0 within 2 s. Watched before the listening line
    // is printed: whoever reads it may send SIGTERM at once.
    const auto shutDown = [&] {
        notifyServiceManager("STOPPING=1");
        server.stopListening();
        hub.shutdown();
        QTimer::singleShot(1500, app.get(), [] { QCoreApplication::exit(0); });
    };
    UnixSignalWatcher signalWatcher;
    QObject::connect(
            &signalWatcher, &UnixSignalWatcher::terminationRequested, &hub, [&](int signal) {
                qCInfo(lcApp, "signal %d: closing %d session(s) and stopping", signal, hub.count());
                shutDown();
            });
    // SIGHUP (systemctl reload): reopen the log file (logrotate moved it), read
    // the configuration again and apply what can change while serving.
    QObject::connect(&signalWatcher, &UnixSignalWatcher::reloadRequested, &hub, [&] {
        notifyServiceManager("RELOADING=1");
        QString error;
        if (!reopenLogFile(&error))
            qCWarning(lcApp, "reload: cannot reopen the log file (%s)", qPrintable(error));
        const CommandLine next = parseCommandLine(arguments);
        if (next.action == CommandLine::Action::Run)
            applyReload(server, *routes.tokens, running, next);
        else
            qCWarning(lcApp, "reload: %s; keeping the running configuration",
                      qPrintable(errorReason(next.text)));
        notifyServiceManager("READY=1");
    });

#ifdef SWITCHBOARD_HAVE_GUI
    // Declared after hub, server and cluster so it is destroyed before them.
    std::unique_ptr<MainWindow> window;
    if (gui) {
        window = std::make_unique<MainWindow>(&hub, &server, cluster.get());
        ListenAddress address{config.host, config.port};
        // A configured address wins; otherwise reuse the one chosen in the console last time.
        if (const auto saved = MainWindow::savedListenAddress()) {
            if (!cli.isGiven(QStringLiteral("host")))
                address.host = saved->host;
            if (!cli.isGiven(QStringLiteral("port")))
                address.port = saved->port;
        }
        window->show();
        // For bench/gui_responsiveness.py: how long clicks and repaints wait under load.
        if (qEnvironmentVariableIsSet("SWITCHBOARD_UI_PROBE"))
            new UiLatencyProbe(window.get(), stderr, window.get());
        // A failed listen() is shown in the window, which stays open so the
        // operator can pick another address.
        if (window->startListening(address))
            printLine(stdout,
                      QStringLiteral("Switchboard listening on %1 (WebSocket %2)")
                              .arg(server.httpUrl(), server.webSocketUrl()));
        else
            printLine(stderr, QStringLiteral("Error: ") + server.errorString());
    }
#endif
    if (!gui) {
        if (!server.listen(config.host, config.port)) {
            printLine(stderr, QStringLiteral("Error: ") + server.errorString());
            return 1;
        }
        printLine(stdout,
                  QStringLiteral("Switchboard listening on %1 (WebSocket %2)")
                          .arg(server.httpUrl(), server.webSocketUrl()));
    }
    if (cluster) {
        const quint16 port = server.isListening() ? server.serverPort() : config.port;
        cluster->start(QHostInfo::localHostName() + u':' + QString::number(port));
    }
    // Listening (or, in the console, showing why not): systemd's Type=notify
    // start is over.
    notifyServiceManager("READY=1");
    if (config.adminTokenGenerated)
        printLine(stdout,
                  QStringLiteral("Admin token (generated for this run; set --admin-token "
                                 "or SWITCHBOARD_ADMIN_TOKEN to choose one): %1")
                          .arg(QString::fromLatin1(config.adminToken)));

    QObject::connect(&hub, &Hub::drained, app.get(), [] { QCoreApplication::exit(0); });
#ifdef SWITCHBOARD_HAVE_GUI
    if (gui) {
        // Closing the window ends the server too, but with proper close frames.
        QApplication::setQuitOnLastWindowClosed(false);
        QObject::connect(qApp, &QGuiApplication::lastWindowClosed, &hub, [&] {
            qCInfo(lcApp, "console closed: closing %d session(s) and stopping", hub.count());
            shutDown();
        });
    }
#endif

    return QCoreApplication::exec();
}
