#pragma once

// Builds a request Conn for tests of the router, pipeline and plugs (no socket).

#include "http/conn.h"

namespace TestUtil {

inline Switchboard::Conn makeConn(const QByteArray &method, const QByteArray &path,
                                  const Switchboard::HeaderList &headers = {},
                                  const QByteArray &body = {})
{
    Switchboard::Conn conn;
    conn.method = method;
    conn.path = path;
    conn.headers = headers;
    conn.body = body;
    conn.clock.start();
    return conn;
}

} // namespace TestUtil
