// Helpers shared by the C++ testbenches: a seeded RNG, pass/fail bookkeeping.
#ifndef VG_TB_COMMON_H
#define VG_TB_COMMON_H

#include <cstdio>
#include <random>
#include <vector>

namespace tb {

inline std::mt19937_64& rng() {
  static std::mt19937_64 r(12345);
  return r;
}
inline long long uniform(long long lo, long long hi) {  // inclusive
  return std::uniform_int_distribution<long long>(lo, hi)(rng());
}
inline long long lo_of(int bits, bool s) { return s ? -(1LL << (bits - 1)) : 0; }
inline long long hi_of(int bits, bool s) { return s ? (1LL << (bits - 1)) - 1 : (1LL << bits) - 1; }

struct Report {
  int failures = 0;
  void check(bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) failures++;
  }
  int done() const { return failures == 0 ? 0 : 1; }
};

// Plain reference of the multi-threshold step: a linear count.
inline long long ref_threshold(long long v, const long long* thr, int nt, int bias) {
  long long n = 0;
  for (int t = 0; t < nt; t++) n += v >= thr[t];
  return bias + n;
}

// Sorted random thresholds for one channel around [lo, hi].
inline void random_thresholds(long long* thr, int nt, long long lo, long long hi) {
  for (int t = 0; t < nt; t++) thr[t] = uniform(lo, hi);
  for (int i = 1; i < nt; i++)
    for (int j = i; j > 0 && thr[j - 1] > thr[j]; j--) std::swap(thr[j - 1], thr[j]);
}

}  // namespace tb

#endif
