#pragma once

#include "http/auththrottle.h"
#include "http/router.h"

#include <QtCore/QByteArray>

#include <functional>
#include <optional>

namespace Switchboard {

/*!
    Built-in plugs. Each returns a Plug to add to a Pipeline or a route.
*/
namespace Plugs {

/*!
    Sets Conn::requestId and the `x-request-id` response header. A client's
    own id is echoed when it is 1 to 200 characters of [A-Za-z0-9._:-];
    otherwise a new random id is generated.
*/
Plug requestId();

/*! One log line per request once it is answered: method, path, status, duration, request id. */
Plug accessLog();

/*!
    Parses a JSON body (`application/json` or `*+json`) into Conn::bodyJson.
    Malformed JSON halts with 400 and a JSON error body.
*/
Plug jsonBody();

/*!
    Requires `Authorization: Bearer TOKEN`, compared in constant time with the
    token \a token returns. Otherwise halts with 401 and `WWW-Authenticate`.
    With \a throttle (which must outlive the plug), a wrong token counts
    against the peer, and a peer that sent too many gets 429 without its
    token being looked at (see AuthThrottle).
*/
Plug adminAuth(std::function<QByteArray()> token, AuthThrottle *throttle = nullptr);

/*!
    Like adminAuth(), but any of the non-empty tokens \a tokens returns opens
    the route (GET /metrics takes the admin token or a scrape token).
*/
Plug anyTokenAuth(std::function<QList<QByteArray>()> tokens, AuthThrottle *throttle = nullptr);

/*!
    The token of an `Authorization: Bearer TOKEN` header (scheme matched
    without regard to case, token trimmed), or nullopt without one. The one
    place a bearer token is read.
*/
std::optional<QByteArray> bearerToken(const Conn &conn);

/*! True when \a request id is acceptable to echo. */
bool isValidRequestId(QByteArrayView id);

/*! Constant-time comparison: the time taken depends only on the lengths. */
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);

} // namespace Plugs
} // namespace Switchboard
