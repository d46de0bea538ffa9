#pragma once

namespace pgque {
// Keep in step with default_version in both .control files and META.json.
// The workers run consumers only where extension pgque_worker is this version.
inline constexpr const char *kVersion = "0.2.0";
}  // namespace pgque
