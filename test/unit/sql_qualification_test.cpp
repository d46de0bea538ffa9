// The workers' own SQL names every function and type with its schema (issue
// 8): a role that can CREATE in a schema on the search_path must never get
// its count(text) or now() called by a superuser worker. The worker sessions
// also pin search_path = pg_catalog, pg_temp (pg/session.cpp); this check
// keeps a later change from leaning on the pin alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef PGQUE_SOURCE_DIR
#error "PGQUE_SOURCE_DIR must name the repository"
#endif

namespace {

// Names the grammar itself turns into pg_catalog calls or constructs, and
// type names that are SQL keywords (resolved by the grammar, not the path).
const std::set<std::string> kGrammarCalls = {
    "coalesce", "nullif", "greatest", "least", "extract", "cast", "exists", "any", "all",
    "in", "filter", "values", "row", "array", "over", "overlay", "position", "substring", "trim"};
const std::set<std::string> kKeywordTypes = {
    "int", "integer", "bigint", "smallint", "boolean", "interval", "real", "double",
    "numeric", "decimal", "float", "char", "varchar", "timestamp", "time", "bit"};

bool IsIdent(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string Lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// Unqualified function calls and casts to unqualified non-keyword types in
// one SQL text (quoted literals inside it are skipped).
std::vector<std::string> UnqualifiedNames(const std::string &sql)
{
    std::vector<std::string> found;
    bool in_quote = false;
    for (size_t i = 0; i < sql.size(); i++) {
        if (sql[i] == '\'') {
            in_quote = !in_quote;
            continue;
        }
        if (in_quote)
            continue;
        if (sql[i] == '(' && i > 0 && IsIdent(sql[i - 1])) {
            size_t start = i;
            while (start > 0 && IsIdent(sql[start - 1]))
                start--;
            std::string name = Lower(sql.substr(start, i - start));
            bool qualified = start > 0 && sql[start - 1] == '.';
            if (!qualified && !kGrammarCalls.count(name))
                found.push_back(name + "(");
        }
        if (sql.compare(i, 2, "::") == 0) {
            size_t start = i + 2, end = start;
            while (end < sql.size() && IsIdent(sql[end]))
                end++;
            std::string name = Lower(sql.substr(start, end - start));
            bool qualified = end < sql.size() && sql[end] == '.';
            if (!name.empty() && !qualified && !kKeywordTypes.count(name))
                found.push_back("::" + name);
            i = end - 1;
        }
    }
    return found;
}

// The C++ string literals of a source file, adjacent ones joined, escapes
// kept as written (they do not matter here). Comments are skipped.
std::vector<std::string> StringLiterals(const std::string &code)
{
    std::vector<std::string> out;
    std::string current;
    bool joining = false;
    for (size_t i = 0; i < code.size(); i++) {
        if (code.compare(i, 2, "//") == 0) {
            i = code.find('\n', i);
            if (i == std::string::npos)
                break;
            continue;
        }
        if (code.compare(i, 2, "/*") == 0) {
            i = code.find("*/", i);
            if (i == std::string::npos)
                break;
            i++;
            continue;
        }
        if (code[i] == '\'') {  // a char literal: 'x' or '\x' (such as '"')
            i += code[i + 1] == '\\' ? 3 : 2;
            continue;
        }
        if (code[i] == '"') {
            size_t j = i + 1;
            while (j < code.size() && code[j] != '"')
                j += code[j] == '\\' ? 2 : 1;
            current += code.substr(i + 1, j - i - 1);
            joining = true;
            i = j;
            continue;
        }
        if (joining && !std::isspace(static_cast<unsigned char>(code[i]))) {
            out.push_back(current);
            current.clear();
            joining = false;
        }
    }
    if (joining)
        out.push_back(current);
    return out;
}

bool LooksLikeSql(const std::string &text)
{
    std::string head = Lower(text.substr(0, 12));
    head.erase(0, head.find_first_not_of(" "));
    for (const char *keyword : {"select ", "insert ", "update ", "delete ", "with "})
        if (head.rfind(keyword, 0) == 0)
            return true;
    return text.find("(m).") != std::string::npos;  // select lists over a pgque.message
}

}  // namespace

TEST(SqlQualification, FlagsUnqualifiedCallsAndCasts)
{
    EXPECT_EQ(UnqualifiedNames("SELECT count(i.x) FROM t"), std::vector<std::string>{"count("});
    EXPECT_EQ(UnqualifiedNames("SELECT $1::float8, now()"),
              (std::vector<std::string>{"::float8", "now("}));
    EXPECT_TRUE(UnqualifiedNames("SELECT pg_catalog.count(*), $1::bigint, coalesce(a, b),"
                                 " extract(epoch FROM x), $2::pgque.message, 'now()'")
                    .empty());
    EXPECT_EQ(StringLiterals("f(\"SELECT a\"\n  \" FROM b\", \"x\"); // \"c\""),
              (std::vector<std::string>{"SELECT a FROM b", "x"}));
}

TEST(SqlQualification, WorkerSqlNamesEverySchema)
{
    int checked = 0;
    for (const auto &entry : std::filesystem::recursive_directory_iterator(std::string(PGQUE_SOURCE_DIR) + "/src")) {
        if (entry.path().extension() != ".cpp")
            continue;
        std::ifstream file(entry.path());
        std::stringstream code;
        code << file.rdbuf();
        for (const std::string &literal : StringLiterals(code.str())) {
            if (!LooksLikeSql(literal))
                continue;
            checked++;
            for (const std::string &name : UnqualifiedNames(literal))
                ADD_FAILURE() << entry.path().filename() << ": unqualified " << name << " in: " << literal;
        }
    }
    EXPECT_GE(checked, 15) << "the check found too few SQL texts to be looking at the right files";
}
