#![no_main]
//! See devsynth_core::fuzzing::bpe.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devsynth_core::fuzzing::bpe(data));
