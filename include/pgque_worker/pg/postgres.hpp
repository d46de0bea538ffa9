// PostgreSQL's headers, for C++.
//
// Include this after every C++ and third-party header: port.h redefines
// printf-family names as macros, which breaks standard headers included later.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}
