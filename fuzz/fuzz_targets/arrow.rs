#![no_main]
//! See devsynth_core::fuzzing::arrow.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devsynth_core::fuzzing::arrow(data));
