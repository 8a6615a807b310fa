// The one place a core Status becomes a JS Error. The TypeScript layer
// re-wraps these as HorovodError (src/errors.ts) using `code`.
#pragma once

#include <napi.h>

#include "common.h"

namespace hvd::binding {

Napi::Error StatusToJsError(Napi::Env env, const core::Status& status);

}  // namespace hvd::binding
