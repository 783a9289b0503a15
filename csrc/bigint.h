// Small sign-magnitude big integer for the verifier's exact rationals.
//
// Only what rlev_fast/verifier/rational.py does with Python ints: parse decimal / base-b digits,
// + - *, compare, bit length, gcd-reduce when both sides fit in 63 bits, and a correctly
// rounded conversion to double through the top 64 bits plus a sticky bit. Sizes are bounded by
// the caller (MAX_BITS = 8192 bits after each operation), so schoolbook multiplication is fine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rlv {

struct Big {
  std::vector<uint32_t> mag;  // little-endian limbs, no leading zero limbs
  bool neg = false;

  Big() {}
  explicit Big(int64_t v) {
    if (v < 0) {
      neg = true;
      uint64_t u = (uint64_t)(-(v + 1)) + 1u;
      set_u64(u);
    } else {
      set_u64((uint64_t)v);
    }
  }
  void set_u64(uint64_t u) {
    mag.clear();
    while (u) {
      mag.push_back((uint32_t)u);
      u >>= 32;
    }
    if (mag.empty()) neg = false;
  }
  bool is_zero() const { return mag.empty(); }
  void trim() {
    while (!mag.empty() && mag.back() == 0) mag.pop_back();
    if (mag.empty()) neg = false;
  }
  int64_t bit_length() const {
    if (mag.empty()) return 0;
    uint32_t top = mag.back();
    int b = 0;
    while (top) {
      b++;
      top >>= 1;
    }
    return (int64_t)(mag.size() - 1) * 32 + b;
  }
  // value as uint64 of the magnitude (caller checks bit_length() <= 64)
  uint64_t mag_u64() const {
    uint64_t r = 0;
    if (mag.size() > 0) r |= mag[0];
    if (mag.size() > 1) r |= (uint64_t)mag[1] << 32;
    return r;
  }
  void mul_small_add(uint32_t m, uint32_t a) {
    uint64_t carry = a;
    for (size_t i = 0; i < mag.size(); i++) {
      uint64_t v = (uint64_t)mag[i] * m + carry;
      mag[i] = (uint32_t)v;
      carry = v >> 32;
    }
    if (carry) mag.push_back((uint32_t)carry);
    trim();
  }
  static Big from_digits(const std::string& d, int base) {
    Big r;
    for (char c : d) {
      int v;
      if (c >= '0' && c <= '9')
        v = c - '0';
      else
        v = (c | 32) - 'a' + 10;
      r.mul_small_add((uint32_t)base, (uint32_t)v);
    }
    return r;
  }
  static Big pow10(int k) {
    Big r(1);
    for (int i = 0; i < k; i++) r.mul_small_add(10, 0);
    return r;
  }
};

inline int cmp_mag(const Big& a, const Big& b) {
  if (a.mag.size() != b.mag.size()) return a.mag.size() < b.mag.size() ? -1 : 1;
  for (size_t i = a.mag.size(); i-- > 0;) {
    if (a.mag[i] != b.mag[i]) return a.mag[i] < b.mag[i] ? -1 : 1;
  }
  return 0;
}

inline std::vector<uint32_t> add_mag(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> r(std::max(a.size(), b.size()) + 1, 0);
  uint64_t carry = 0;
  for (size_t i = 0; i < r.size(); i++) {
    uint64_t v = carry;
    if (i < a.size()) v += a[i];
    if (i < b.size()) v += b[i];
    r[i] = (uint32_t)v;
    carry = v >> 32;
  }
  return r;
}

// |a| >= |b|
inline std::vector<uint32_t> sub_mag(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> r(a.size(), 0);
  int64_t borrow = 0;
  for (size_t i = 0; i < a.size(); i++) {
    int64_t v = (int64_t)a[i] - borrow - (i < b.size() ? (int64_t)b[i] : 0);
    if (v < 0) {
      v += ((int64_t)1 << 32);
      borrow = 1;
    } else {
      borrow = 0;
    }
    r[i] = (uint32_t)v;
  }
  return r;
}

inline Big add(const Big& a, const Big& b) {
  Big r;
  if (a.neg == b.neg) {
    r.mag = add_mag(a.mag, b.mag);
    r.neg = a.neg;
  } else {
    int c = cmp_mag(a, b);
    if (c == 0) return Big();
    if (c > 0) {
      r.mag = sub_mag(a.mag, b.mag);
      r.neg = a.neg;
    } else {
      r.mag = sub_mag(b.mag, a.mag);
      r.neg = b.neg;
    }
  }
  r.trim();
  return r;
}

inline Big negate(Big a) {
  if (!a.is_zero()) a.neg = !a.neg;
  return a;
}

inline Big sub(const Big& a, const Big& b) { return add(a, negate(b)); }

inline Big mul(const Big& a, const Big& b) {
  Big r;
  if (a.is_zero() || b.is_zero()) return r;
  r.mag.assign(a.mag.size() + b.mag.size(), 0);
  for (size_t i = 0; i < a.mag.size(); i++) {
    uint64_t carry = 0;
    uint64_t ai = a.mag[i];
    for (size_t j = 0; j < b.mag.size(); j++) {
      uint64_t v = ai * b.mag[j] + r.mag[i + j] + carry;
      r.mag[i + j] = (uint32_t)v;
      carry = v >> 32;
    }
    size_t k = i + b.mag.size();
    while (carry) {
      uint64_t v = (uint64_t)r.mag[k] + carry;
      r.mag[k] = (uint32_t)v;
      carry = v >> 32;
      k++;
    }
  }
  r.neg = a.neg != b.neg;
  r.trim();
  return r;
}

inline bool eq(const Big& a, const Big& b) { return a.neg == b.neg && a.mag == b.mag; }

// decimal digits with a leading '-' (as Python's str(int)); for the stage-by-stage parity tests
inline std::string to_decimal(const Big& a) {
  if (a.is_zero()) return "0";
  std::vector<uint32_t> m = a.mag;
  std::string out;
  while (!m.empty()) {  // divide by 10**9, collect the remainders
    uint64_t rem = 0;
    for (size_t i = m.size(); i-- > 0;) {
      uint64_t cur = (rem << 32) | m[i];
      m[i] = (uint32_t)(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (!m.empty() && m.back() == 0) m.pop_back();
    for (int k = 0; k < 9; k++) {
      out.push_back((char)('0' + rem % 10));
      rem /= 10;
      if (m.empty() && rem == 0) break;
    }
  }
  if (a.neg) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

// top 64 bits of |a| with a sticky bit, and the shift: |a| ~= m * 2**sh (as Python's _top64)
inline double top64(const Big& a, int64_t* sh) {
  int64_t L = a.bit_length();
  if (L <= 64) {
    *sh = 0;
    return (double)a.mag_u64();
  }
  int64_t s = L - 64;
  uint64_t m = 0;
  for (int k = 0; k < 64; k++) {
    int64_t bit = s + k;
    uint32_t limb = a.mag[(size_t)(bit / 32)];
    if ((limb >> (bit % 32)) & 1u) m |= (uint64_t)1 << k;
  }
  bool sticky = false;
  int64_t full = s / 32;
  for (int64_t q = 0; q < full && !sticky; q++)
    if (a.mag[(size_t)q]) sticky = true;
  if (!sticky && (s % 32)) {
    uint32_t mask = ((uint32_t)1 << (s % 32)) - 1u;
    if (a.mag[(size_t)full] & mask) sticky = true;
  }
  if (sticky) m |= 1u;
  *sh = s;
  return (double)m;
}

}  // namespace rlv
