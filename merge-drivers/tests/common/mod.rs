//! What the property tests share.

use proptest::test_runner::{Config, RngSeed};

/// 256 cases per property (a few seconds in a debug build), the same ones on every run: a
/// CI run must not fail by chance. `PROPTEST_CASES=N` and `PROPTEST_RNG_SEED=N` for a hunt.
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    let seeded = std::env::var_os("PROPTEST_RNG_SEED").is_some();
    Config {
        cases: cases.unwrap_or(256),
        failure_persistence: None,
        rng_seed: if seeded {
            Config::default().rng_seed
        } else {
            RngSeed::Fixed(0x5eed_a15c)
        },
        ..Config::default()
    }
}
