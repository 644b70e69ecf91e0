// attest: the umbrella header.
#pragma once

#include "attest/capability.hpp"
#include "attest/config.hpp"
#include "attest/driver.hpp"
#include "attest/error.hpp"
#include "attest/log.hpp"
#include "attest/machine.hpp"
#include "attest/version.hpp"
