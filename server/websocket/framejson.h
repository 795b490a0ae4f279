#pragma once

#include "websocket/frame.h"

#include <QtCore/QJsonObject>

#include <optional>

namespace Switchboard {

/*!
    A text or binary frame as JSON: `{"text":"..."}` or
    `{"binary_base64":"..."}`. The one encoding of a message in JSON, used by
    the admin API's bodies and the cluster's envelopes alike.
*/
QJsonObject frameToJson(const Frame &frame);

/*!
    The frame \a object describes: exactly one of "text" (a string) or
    "binary_base64" (a base64 string). Otherwise nullopt, with \a error (if
    given) saying what is wrong.
*/
std::optional<Frame> frameFromJson(const QJsonObject &object, QString *error = nullptr);

} // namespace Switchboard
