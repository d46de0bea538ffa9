#include "pgque_worker/core/error_shape.hpp"

#include <gtest/gtest.h>

using pgque::core::ErrorShape;

TEST(ErrorShape, MasksEveryRunOfDigits)
{
    EXPECT_EQ(ErrorShape("ticking queue q1: Invalid PgQ state: old xmin=1042, old xmax=1042, cur txid=761"),
              "ticking queue q#: Invalid PgQ state: old xmin=#, old xmax=#, cur txid=#");
}

TEST(ErrorShape, SameShapeForEachAttemptOfOneState)
{
    EXPECT_EQ(ErrorShape("Invalid PgQ state: old xmin=1042, old xmax=1042, cur txid=761"),
              ErrorShape("Invalid PgQ state: old xmin=1042, old xmax=1042, cur txid=762"));
}

TEST(ErrorShape, DifferentWordsStayDifferent)
{
    EXPECT_NE(ErrorShape("relation \"a\" does not exist"), ErrorShape("relation \"b\" does not exist"));
    EXPECT_EQ(ErrorShape(""), "");
    EXPECT_EQ(ErrorShape("no digits"), "no digits");
}
