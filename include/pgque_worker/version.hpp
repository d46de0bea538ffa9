#pragma once

namespace pgque {
// Keep in step with default_version in both .control files and META.json.
inline constexpr const char *kVersion = "0.1.0";
}  // namespace pgque
