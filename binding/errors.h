// The one place a core Status becomes a JS Error: a HorovodError
// (src/errors.ts) once the TypeScript layer handed its constructor over
// (setErrorConstructor), a plain Error with `code` before that.
#pragma once

#include <napi.h>

#include "common.h"

namespace hvd::binding {

Napi::Error StatusToJsError(Napi::Env env, const core::Status& status);

}  // namespace hvd::binding
