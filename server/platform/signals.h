#pragma once

#include <QtCore/QObject>

class QSocketNotifier;

namespace Switchboard {

/*!
    Turns SIGINT and SIGTERM, and SIGHUP, into Qt signals on the event loop
    (self-pipe), so shutdown and reload run as ordinary code instead of inside a
    signal handler. Create at most one.
*/
class UnixSignalWatcher final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(UnixSignalWatcher)

public:
    explicit UnixSignalWatcher(QObject *parent = nullptr);
    ~UnixSignalWatcher() override;

Q_SIGNALS:
    void terminationRequested(int signalNumber);
    //! SIGHUP: reopen the log file and reread the configuration.
    void reloadRequested();

private:
    void onReadable();

    QSocketNotifier *m_notifier = nullptr;
};

} // namespace Switchboard
