// C++17 answer verifier, the public entry points. The stages (text, scan, extract, context, choice,
// tokenize, parse, rational, evaluate, values, compare, grade) are files of their own, each the twin of the module of
// the same name in rlev_fast/verifier/ (same caps, same normalization order, same results;
// tests/verify/test_verify_parity.py and test_verify_stages.py check it). Inputs are UTF-8 bytes
// (Python encodes with "surrogatepass"); nothing here throws past the public functions.
#pragma once

#include <string>

namespace rlv {

// true when the response's final answer matches the gold answer (grade.cpp)
bool verify(const std::string& resp, const std::string& gold);

// the response's final answer; false when it has none (extract.cpp)
bool extract(const std::string& resp, std::string* out);

// the gold side's answer (answer keys: "$\frac12$", "\boxed{3}", "(B)", "x=5") (extract.cpp)
bool gold_answer(const std::string& gold, std::string* out);

}  // namespace rlv
