// The container's network: with its own namespace, only loopback, brought up.
#pragma once

#include <cage/error.hpp>

namespace cage::network {

Expected<void> bring_up_loopback();

}  // namespace cage::network
