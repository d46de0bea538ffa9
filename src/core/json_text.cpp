#include "pgque_worker/core/json_text.hpp"

#include <cstdio>
#include <vector>

#include "pgque_worker/core/utf8.hpp"

namespace pgque::core {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Each Scan* advances pos past one token and returns false if it is malformed.
bool ScanString(std::string_view t, std::size_t &pos)
{
    pos++;  // opening quote
    while (pos < t.size()) {
        char c = t[pos];
        if (c == '"') {
            pos++;
            return true;
        }
        if (static_cast<unsigned char>(c) < 0x20)
            return false;
        if (c == '\\') {
            if (++pos >= t.size())
                return false;
            char e = t[pos];
            if (e == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (pos + k >= t.size() || !IsHex(t[pos + k]))
                        return false;
                pos += 5;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                pos++;
            } else {
                return false;
            }
            continue;
        }
        std::size_t n = Utf8SequenceLength(t.substr(pos));
        if (n == 0)
            return false;
        pos += n;
    }
    return false;
}

bool ScanNumber(std::string_view t, std::size_t &pos)
{
    std::size_t start = pos;
    if (pos < t.size() && t[pos] == '-')
        pos++;
    if (pos >= t.size())
        return false;
    if (t[pos] == '0') {
        pos++;
    } else if (IsDigit(t[pos])) {
        while (pos < t.size() && IsDigit(t[pos]))
            pos++;
    } else {
        return false;
    }
    if (pos < t.size() && t[pos] == '.') {
        pos++;
        if (pos >= t.size() || !IsDigit(t[pos]))
            return false;
        while (pos < t.size() && IsDigit(t[pos]))
            pos++;
    }
    if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
        pos++;
        if (pos < t.size() && (t[pos] == '+' || t[pos] == '-'))
            pos++;
        if (pos >= t.size() || !IsDigit(t[pos]))
            return false;
        while (pos < t.size() && IsDigit(t[pos]))
            pos++;
    }
    return pos > start;
}

bool ScanLiteral(std::string_view t, std::size_t &pos)
{
    for (std::string_view word : {"true", "false", "null"})
        if (t.substr(pos, word.size()) == word) {
            pos += word.size();
            return true;
        }
    return false;
}

void SkipSpace(std::string_view t, std::size_t &pos)
{
    while (pos < t.size() && IsSpace(t[pos]))
        pos++;
}

}  // namespace

JsonCheck CheckJson(std::string_view t, std::size_t max_depth)
{
    // The containers we are inside, innermost last: '[' or '{'. Bounded by
    // max_depth, so memory is too.
    std::vector<char> open;
    std::size_t pos = 0;
    // What the grammar expects next.
    enum { Value, ValueOrClose, KeyOrClose, Key, Colon, CommaOrClose } want = Value;
    for (;;) {
        SkipSpace(t, pos);
        if (pos >= t.size())
            return JsonCheck::Invalid;
        char c = t[pos];
        switch (want) {
        case ValueOrClose:
            if (c == ']') {
                pos++;
                open.pop_back();
                want = CommaOrClose;
                break;
            }
            [[fallthrough]];
        case Value:
            if (c == '[' || c == '{') {
                if (open.size() >= max_depth)
                    return JsonCheck::TooDeep;
                open.push_back(c);
                pos++;
                want = c == '[' ? ValueOrClose : KeyOrClose;
                break;
            }
            if (!(c == '"' ? ScanString(t, pos) : (c == '-' || IsDigit(c)) ? ScanNumber(t, pos) : ScanLiteral(t, pos)))
                return JsonCheck::Invalid;
            want = CommaOrClose;
            break;
        case KeyOrClose:
            if (c == '}') {
                pos++;
                open.pop_back();
                want = CommaOrClose;
                break;
            }
            [[fallthrough]];
        case Key:
            if (c != '"' || !ScanString(t, pos))
                return JsonCheck::Invalid;
            want = Colon;
            break;
        case Colon:
            if (c != ':')
                return JsonCheck::Invalid;
            pos++;
            want = Value;
            break;
        case CommaOrClose:
            if (open.empty())
                return JsonCheck::Invalid;  // text after the top-level value
            if (c == ',') {
                pos++;
                want = open.back() == '[' ? Value : Key;
            } else if (c == (open.back() == '[' ? ']' : '}')) {
                pos++;
                open.pop_back();
            } else {
                return JsonCheck::Invalid;
            }
            break;
        }
        if (want == CommaOrClose && open.empty()) {
            SkipSpace(t, pos);
            return pos == t.size() ? JsonCheck::Valid : JsonCheck::Invalid;
        }
    }
}

void AppendJsonString(std::string &out, std::string_view text)
{
    out += '"';
    std::size_t i = 0;
    while (i < text.size()) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            i++;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            i++;
        } else {
            std::size_t n = Utf8SequenceLength(text.substr(i));
            out.append(n ? text.substr(i, n) : std::string_view("\xEF\xBF\xBD"));
            i += n ? n : 1;
        }
    }
    out += '"';
}

}  // namespace pgque::core
