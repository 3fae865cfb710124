// Capabilities: every set emptied (bounding, ambient, inheritable, permitted, effective) and
// the securebits that stop a uid-0 process from regaining any, locked.
#pragma once

#include <cage/error.hpp>

namespace cage::caps {

// Needs CAP_SETPCAP: call before clear_all().
Expected<void> drop_bounding_set();
Expected<void> lock_securebits();
// Empty the permitted, effective, inheritable and ambient sets.
Expected<void> clear_all();

}  // namespace cage::caps
