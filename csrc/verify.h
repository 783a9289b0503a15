// C++17 answer verifier: a line-by-line port of rlev_fast/verify_python.py (same caps, same
// normalization order, same results; tests/test_verify_parity.py checks it). Inputs are UTF-8
// bytes (Python encodes with "surrogatepass"); nothing here throws past the public functions.
#pragma once

#include <string>

namespace rlv {

// true when the response's final answer matches the gold answer
bool verify(const std::string& resp, const std::string& gold);

// the response's final answer; false when it has none
bool extract(const std::string& resp, std::string* out);

// the gold side's answer (answer keys: "$\frac12$", "\boxed{3}", "(B)", "x=5")
bool gold_answer(const std::string& gold, std::string* out);

}  // namespace rlv
