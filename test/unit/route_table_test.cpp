#include <gtest/gtest.h>

#include "pgque_worker/core/route_table.hpp"

using pgque::core::RouteTable;

TEST(RouteTable, ExactTypeWinsOverCatchAll)
{
    RouteTable routes({"*", "order.created", "order.paid"});
    EXPECT_EQ(routes.RouteFor(std::string("order.paid")), 2);
    EXPECT_EQ(routes.RouteFor(std::string("order.created")), 1);
}

TEST(RouteTable, OtherTypesGoToTheCatchAll)
{
    RouteTable routes({"order.created", "*"});
    EXPECT_EQ(routes.RouteFor(std::string("something.else")), 1);
    EXPECT_EQ(routes.RouteFor(std::nullopt), 1);
}

TEST(RouteTable, WithoutCatchAllOtherTypesAreUnhandled)
{
    RouteTable routes({"order.created"});
    EXPECT_EQ(routes.RouteFor(std::string("order.paid")), RouteTable::kNoRoute);
    EXPECT_EQ(routes.RouteFor(std::nullopt), RouteTable::kNoRoute);
    EXPECT_EQ(RouteTable({}).RouteFor(std::string("x")), RouteTable::kNoRoute);
}

TEST(RouteTable, TypesAreMatchedExactly)
{
    RouteTable routes({"Order"});
    EXPECT_EQ(routes.RouteFor(std::string("order")), RouteTable::kNoRoute);
    EXPECT_EQ(routes.RouteFor(std::string("Order ")), RouteTable::kNoRoute);
}
