#pragma once

#include "broadcaster/scheme_table.hpp"

namespace broadcaster {

/// Returns a scheme table with `memory://` and every backend that this build
/// of the library was configured with (for example `redis://` when hiredis
/// was found). Programs that accept a backend URL from their users start from
/// this table; code that only needs `memory://` can use `memory_schemes()`.
scheme_table builtin_schemes();

} // namespace broadcaster
