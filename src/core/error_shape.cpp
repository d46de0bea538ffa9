#include "pgque_worker/core/error_shape.hpp"

namespace pgque::core {

std::string ErrorShape(std::string_view text)
{
    std::string shape;
    shape.reserve(text.size());
    bool in_digits = false;
    for (char ch : text) {
        bool digit = ch >= '0' && ch <= '9';
        if (!digit)
            shape.push_back(ch);
        else if (!in_digits)
            shape.push_back('#');
        in_digits = digit;
    }
    return shape;
}

}  // namespace pgque::core
