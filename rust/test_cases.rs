//! How many cases each property test runs. Every `proptest!` block of the crate takes its
//! config from `cases(n)`: `n` cases normally, scaled by `DEVSYNTH_PROPTEST_SCALE` when that is
//! set. scripts/test-aarch64.sh sets it (to 0.25), because under qemu-user every case runs about
//! ten times slower; the native run (scripts/test.sh, `cargo test`) keeps the full counts.

use proptest::test_runner::Config;

/// The variable that scales every property test's case count (a factor in (0, 1]).
pub const SCALE_VAR: &str = "DEVSYNTH_PROPTEST_SCALE";

/// A proptest config of `full` cases, scaled down when `DEVSYNTH_PROPTEST_SCALE` asks for it.
pub fn cases(full: u32) -> Config {
    Config::with_cases(scaled(full, std::env::var(SCALE_VAR).ok().as_deref()))
}

/// `full` times the factor `scale` (rounded up, never under one case), or `full` when unset.
/// A factor that is not a number in (0, 1] stops the run: a typo must not silently run every
/// case (hours under qemu) or none.
fn scaled(full: u32, scale: Option<&str>) -> u32 {
    let Some(text) = scale else { return full };
    let factor: f64 = match text.trim().parse() {
        Ok(f) if f > 0.0 && f <= 1.0 => f,
        _ => panic!("{SCALE_VAR}={text:?}: expected a factor in (0, 1], such as 0.25"),
    };
    ((f64::from(full) * factor).ceil() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_keeps_the_full_count() {
        assert_eq!(scaled(3000, None), 3000);
    }

    #[test]
    fn a_factor_scales_and_rounds_up_to_at_least_one_case() {
        assert_eq!(scaled(3000, Some("0.05")), 150);
        assert_eq!(scaled(300, Some(" 0.05 ")), 15);
        assert_eq!(scaled(7, Some("0.1")), 1);
        assert_eq!(scaled(1, Some("0.001")), 1);
        assert_eq!(scaled(400, Some("1")), 400);
    }

    /// A property test with its own count would run in full under qemu (an hour, once).
    #[test]
    fn every_property_test_takes_its_count_from_here() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let mut lines = text.lines().map(str::trim);
                    while let Some(line) = lines.next() {
                        if line.starts_with("proptest! {") {
                            let config = lines.next().unwrap_or("");
                            if !config.starts_with("#![proptest_config(crate::test_cases::cases(") {
                                found.push(format!("{}: {config}", path.display()));
                            }
                        }
                    }
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rust");
        let mut found = Vec::new();
        visit(&root, &mut found);
        assert!(
            found.is_empty(),
            "proptest! blocks without cases(n): {found:#?}"
        );
    }

    #[test]
    fn nonsense_factors_are_refused() {
        for bad in ["", "fast", "0", "-0.5", "1.5", "NaN", "inf"] {
            let outcome = std::panic::catch_unwind(|| scaled(100, Some(bad)));
            assert!(outcome.is_err(), "{bad:?} was accepted");
        }
    }
}
