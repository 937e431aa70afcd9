//! What the CPU running us can do, for the hot loops compiled twice: once for the baseline the
//! wheels target (x86-64 of 2003: SSE2, no bit-count instructions), once for x86-64-v3
//! (AVX2, BMI1/2, POPCNT, LZCNT: every x86-64 CPU sold since about 2015).

/// Whether this CPU has what a function compiled with
/// `#[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]` needs. std detects the features
/// once and caches them, so this is a few loads.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn has_x86_64_v3() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("lzcnt")
}
