// The shape of an error text: the text with every run of digits replaced by
// '#'. A worker logs an error once per shape, not once per occurrence: PgQ's
// "Invalid PgQ state: old xmin=%, old xmax=%, cur txid=%" (a database
// restored into a cluster whose transaction ids are lower) names a new txid
// on every tick attempt, and would otherwise be logged once per attempt.
#pragma once

#include <string>
#include <string_view>

namespace pgque::core {

std::string ErrorShape(std::string_view text);

}  // namespace pgque::core
