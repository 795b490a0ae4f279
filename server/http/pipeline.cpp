#include "http/pipeline.h"

#include "logging.h"

#include <exception>

namespace Switchboard {

void Pipeline::call(Conn &conn, const Handler &terminal) const
{
    if (!conn.clock.isValid())
        conn.clock.start();
    try {
        for (const Plug &plug : m_plugs) {
            plug(conn);
            if (conn.halted)
                break;
        }
        if (!conn.halted && terminal)
            terminal(conn);
    } catch (const std::exception &e) {
        qCWarning(lcHttp, "request %s %s failed: %s", conn.method.constData(),
                  conn.path.constData(), e.what());
        conn.respHeaders.removeIf([](const auto &h) { return h.first != "x-request-id"; });
        conn.sendError(500, QStringLiteral("internal server error"));
    } catch (...) {
        qCWarning(lcHttp, "request %s %s failed with an unknown exception", conn.method.constData(),
                  conn.path.constData());
        conn.respHeaders.removeIf([](const auto &h) { return h.first != "x-request-id"; });
        conn.sendError(500, QStringLiteral("internal server error"));
    }
    if (conn.status == 0)
        conn.sendError(500, QStringLiteral("no handler answered"));
    try {
        conn.runBeforeSend();
    } catch (...) {
        qCWarning(lcHttp, "a before-send callback threw; response sent as it was");
    }
}

} // namespace Switchboard
