#pragma once

#include "http/router.h"

#include <QtCore/QList>

namespace Switchboard {

/*!
    An ordered list of plugs in front of a final handler (normally a Router).

    call() runs the plugs until one halts, then the final handler, and turns
    an exception thrown anywhere into a 500 so one bad handler never takes the
    server down. Before-send callbacks (the access log) run last, once.
*/
class Pipeline final
{
public:
    void add(Plug plug) { m_plugs.append(std::move(plug)); }
    qsizetype size() const { return m_plugs.size(); }

    /*! Runs the plugs, then \a terminal unless a plug halted. */
    void call(Conn &conn, const Handler &terminal) const;

private:
    QList<Plug> m_plugs;
};

} // namespace Switchboard
