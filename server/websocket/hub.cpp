#include "websocket/hub.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "websocket/framecodec.h"
#include "threading.h"
#include "websocket/sessionhost.h"

#include <QtCore/QMetaMethod>
#include <QtCore/QSemaphore>
#include <QtCore/QThread>

#include <algorithm>

namespace Switchboard {

namespace {

/*! The `reason` label of a close: the kind, with protocol errors told apart. */
QByteArray closeReasonLabel(const TerminateReason &reason)
{
    using Kind = TerminateReason::Kind;
    switch (reason.kind) {
    case Kind::RemoteClose:
        return QByteArrayLiteral("remote_close");
    case Kind::LocalClose:
        return QByteArrayLiteral("handler_close");
    case Kind::IdleTimeout:
        return QByteArrayLiteral("idle_timeout");
    case Kind::PingTimeout:
        return QByteArrayLiteral("ping_timeout");
    case Kind::TooBig:
        return QByteArrayLiteral("message_too_big");
    case Kind::SlowConsumer:
        return QByteArrayLiteral("slow_consumer");
    case Kind::Error:
        return reason.code == 1002 || reason.code == 1007 ? QByteArrayLiteral("protocol_error")
                                                          : QByteArrayLiteral("error");
    case Kind::Shutdown:
        return QByteArrayLiteral("shutdown");
    case Kind::Operator:
        return QByteArrayLiteral("operator");
    }
    return QByteArrayLiteral("error");
}

/*!
    The `code` label: the registered codes (1000-1015) as they are, others by range
    ("3xxx", "4xxx"), so a peer choosing codes cannot make new series without end.
*/
QByteArray closeCodeLabel(quint16 code)
{
    if (code == 0)
        return QByteArrayLiteral("none");
    if (code >= 1000 && code <= 1015)
        return QByteArray::number(code);
    if (code >= 3000 && code <= 4999)
        return QByteArray::number(code / 1000) + "xxx";
    return QByteArrayLiteral("other");
}

} // namespace

Hub::Hub(HubSettings settings, Metrics *metrics, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_ownMetrics(metrics ? nullptr : std::make_unique<Metrics>())
    , m_metrics(metrics ? metrics : m_ownMetrics.get())
    , m_sessionsOpened(&m_metrics->counter("switchboard_websocket_sessions_opened_total",
                                           "WebSocket sessions opened, by path and subprotocol.",
                                           {"path", "subprotocol"}))
    , m_closes(&m_metrics->counter(
              "switchboard_websocket_closes_total",
              "WebSocket sessions ended, by why (slow_consumer 1008, protocol_error 1002/1007, "
              "message_too_big 1009, idle_timeout, ping_timeout, remote_close, ...) and close "
              "code.",
              {"reason", "code"}))
    , m_broadcasts(&m_metrics
                            ->counter("switchboard_broadcasts_total",
                                      "Broadcasts fanned out on this instance.")
                            .get())
    , m_broadcastRecipients(
              &m_metrics
                       ->counter("switchboard_broadcast_recipients_total",
                                 "Sessions broadcasts were delivered to, summed over broadcasts.")
                       .get())
    , m_pingRtt(&m_metrics
                         ->histogram("switchboard_websocket_ping_rtt_seconds",
                                     "Round trip of the server's WebSocket pings.",
                                     latencyBuckets())
                         .get())
{
    qRegisterMetaType<Switchboard::Frame>();
    qRegisterMetaType<Switchboard::SessionInfo>();
    qRegisterMetaType<Switchboard::TerminateReason>();
    m_clock.start();

    m_settings.workers = std::max(1, m_settings.workers);
    if (m_settings.workers == 1) {
        // One worker is this thread: a single-threaded server, as before workers existed.
        m_hosts.append(new SessionHost(this, 0));
        return;
    }
    for (int i = 0; i < m_settings.workers; ++i) {
        auto thread = std::make_unique<QThread>();
        thread->setObjectName(QStringLiteral("switchboard-worker-%1").arg(i));
        // Made here, moved with its timers (its children) before the thread runs.
        auto *host = new SessionHost(this, i);
        host->moveToThread(thread.get());
        // Batched log lines are written when this worker's loop goes idle, as on the main
        // thread (see logging.h).
        connect(thread.get(), &QThread::started, host, &flushLogWhenIdle, Qt::DirectConnection);
        thread->start();
        m_threads.push_back(std::move(thread));
        m_hosts.append(host);
    }
}

Hub::~Hub()
{
    // Each host (and its sessions, sockets and connections) goes on its own thread,
    // which is still running; then the threads stop.
    for (SessionHost *host : std::as_const(m_hosts))
        Threading::runAndWait(host, [host] { delete host; }); // at once for one worker
    for (const auto &thread : m_threads) {
        thread->quit();
        thread->wait();
    }
}

void Hub::checkThread(const QObject *object, const char *where)
{
    if (Q_UNLIKELY(!Threading::isCurrent(object)))
        qFatal("%s called on thread %p (%s), but it belongs to thread %p (%s)", where,
               static_cast<void *>(QThread::currentThread()),
               qPrintable(QThread::currentThread()->objectName()),
               static_cast<void *>(object->thread()), qPrintable(object->thread()->objectName()));
}

SessionHost *Hub::currentHost() const
{
    QThread *current = QThread::currentThread();
    for (SessionHost *host : m_hosts) {
        if (host->thread() == current)
            return host;
    }
    return nullptr;
}

bool Hub::mayWait() const
{
    return Threading::isCurrent(this);
}

quint64 Hub::registerSession(SessionHost *host)
{
    const quint64 id = m_nextId.fetch_add(1, std::memory_order_relaxed);
    {
        const std::lock_guard lock(m_mutex);
        m_where.insert(id, host);
    }
    m_count.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void Hub::unregisterSession(quint64 id)
{
    {
        const std::lock_guard lock(m_mutex);
        m_where.remove(id);
    }
    m_count.fetch_sub(1, std::memory_order_relaxed);
}

SessionHost *Hub::hostOf(quint64 id) const
{
    const std::lock_guard lock(m_mutex);
    return m_where.value(id);
}

void Hub::noteCountChanged()
{
    // Hosts on several threads change the count; one emission on the hub's thread
    // reads it after all of them, so the last value a receiver sees is the true one.
    // Headless, nobody listens: no wake-up of the main thread per open and close.
    static const QMetaMethod countSignal = QMetaMethod::fromSignal(&Hub::countChanged);
    if (!isSignalConnected(countSignal) || m_countPending.exchange(true))
        return;
    Threading::post(this, [this] {
        m_countPending.store(false);
        Q_EMIT countChanged(count());
    });
}

void Hub::hostDrained()
{
    if (m_drainedHosts.fetch_add(1) + 1 == int(m_hosts.size()))
        Threading::post(this, [this] { Q_EMIT drained(); });
}

bool Hub::wantsStats() const
{
    static const QMetaMethod statsSignal = QMetaMethod::fromSignal(&Hub::statsChanged);
    return isSignalConnected(statsSignal);
}

QList<SessionInfo> Hub::sessions() const
{
    QList<SessionInfo> out;
    out.reserve(count());
    for (SessionHost *host : m_hosts) {
        if (!Threading::isCurrent(host) && !mayWait())
            checkThread(this, "Hub::sessions (from a worker thread)");
        out.append(Threading::runAndWait(host, [host] { return host->sessions(); }));
    }
    std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) { return a.id < b.id; });
    return out;
}

std::optional<SessionInfo> Hub::session(quint64 id) const
{
    SessionHost *host = hostOf(id);
    if (!host)
        return std::nullopt;
    if (!Threading::isCurrent(host) && !mayWait())
        checkThread(this, "Hub::session (from another worker thread)");
    return Threading::runAndWait(host, [host, id] { return host->session(id); });
}

int Hub::broadcast(const Frame &frame, const BroadcastFilter &filter)
{
    // Other instances first: their fan-out then runs while this one does its own.
    Q_EMIT broadcastRequested(frame, filter);
    return broadcastLocal(frame, filter);
}

int Hub::broadcastLocal(const Frame &frame, const BroadcastFilter &filter)
{
    // One Frame for every host: it is immutable and encodes itself once, whichever
    // host's thread asks first. The last host to finish reports the total.
    struct Progress
    {
        std::atomic<int> delivered{0};
        std::atomic<int> pending{0};
        QSemaphore done;
    };
    auto progress = std::make_shared<Progress>();
    progress->pending.store(int(m_hosts.size()));
    const auto finish = [this, progress, frame](int delivered) {
        const int total = progress->delivered.fetch_add(delivered) + delivered;
        if (progress->pending.fetch_sub(1) == 1) {
            m_broadcasts->add();
            m_broadcastRecipients->add(quint64(total));
            Q_EMIT broadcastSent(frame, total);
        }
        Threading::handOver(progress.get());
        progress->done.release();
    };
    int here = 0;
    int waitFor = 0;
    const bool wait = mayWait();
    SessionHost *const current = currentHost();
    for (SessionHost *host : m_hosts) {
        if (host == current)
            continue;
        if (wait)
            ++waitFor;
        Threading::post(host,
                        [host, frame, filter, finish] { finish(host->broadcast(frame, filter)); });
    }
    if (current) {
        here = current->broadcast(frame, filter);
        finish(here);
    }
    if (waitFor == 0)
        return here;
    progress->done.acquire(waitFor);
    Threading::takeOver(progress.get()); // what the hosts did before releasing
    return progress->delivered.load();
}

bool Hub::send(quint64 id, const Frame &frame)
{
    SessionHost *host = hostOf(id);
    if (!host)
        return false;
    if (Threading::isCurrent(host))
        return host->send(id, frame);
    Threading::post(host, [host, id, frame] { host->send(id, frame); });
    return true;
}

int Hub::send(const QList<quint64> &ids, const Frame &frame)
{
    // One list (and one post) per host, the same Frame for all.
    QHash<SessionHost *, QList<quint64>> byHost;
    {
        const std::lock_guard lock(m_mutex);
        for (const quint64 id : ids) {
            if (SessionHost *host = m_where.value(id))
                byHost[host].append(id);
        }
    }
    int found = 0;
    for (auto it = byHost.cbegin(); it != byHost.cend(); ++it) {
        SessionHost *host = it.key();
        found += int(it.value().size());
        if (Threading::isCurrent(host))
            host->send(it.value(), frame);
        else
            Threading::post(host, [host, list = it.value(), frame] { host->send(list, frame); });
    }
    return found;
}

void Hub::post(quint64 id, const QVariant &message)
{
    // Queued even on the session's own thread: info() never runs inside its caller.
    if (SessionHost *host = hostOf(id))
        Threading::post(host, [host, id, message] { host->deliver(id, message); });
}

bool Hub::close(quint64 id, quint16 code, const QString &reason)
{
    if (!isSendableCloseCode(code))
        return false;
    SessionHost *host = hostOf(id);
    if (!host)
        return false;
    if (Threading::isCurrent(host) || mayWait())
        return Threading::runAndWait(
                host, [host, id, code, reason] { return host->close(id, code, reason); });
    Threading::post(host, [host, id, code, reason] { host->close(id, code, reason); });
    return true;
}

void Hub::shutdown()
{
    checkThread(this, "Hub::shutdown");
    if (m_shuttingDown.exchange(true))
        return;
    for (SessionHost *host : m_hosts) {
        // drained() is queued either way, so it never fires inside shutdown().
        if (Threading::isCurrent(host))
            host->shutdown();
        else
            Threading::post(host, [host] { host->shutdown(); });
    }
}

void Hub::countClose(const TerminateReason &reason)
{
    // Once per session: a lookup is fine here.
    m_closes->labels({closeReasonLabel(reason), closeCodeLabel(reason.code)}).add();
}

} // namespace Switchboard
