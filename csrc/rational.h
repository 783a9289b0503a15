// Exact rationals (twin of rlev_fast/verifier/rational.py).
#pragma once

#include <cstdint>

#include "bigint.h"

namespace rlv {

struct Q {  // exact rational num/den, den > 0 (not always reduced: see reduce())
  Big n, d;
};

bool bits_ok(const Big& n, const Big& d);  // both under MAX_BITS
void reduce(Q* q);                          // lowest terms when both fit in 63 bits
bool qfix(Q* q);                            // a positive denominator, the caps, reduced
bool qadd(const Q& a, const Q& b, int sign, Q* r);  // a + sign * b
bool qmul(const Q& a, const Q& b, Q* r);
bool qdiv(const Q& a, const Q& b, Q* r);
bool qpow(const Q& a, int64_t e, Q* r);     // a ** e for an integer e
bool to_i64(const Q& q, int64_t* v);        // q is an integer with |q| < 2**62
double q_to_double(const Q& q);             // the nearest double (inf past the range)

}  // namespace rlv
