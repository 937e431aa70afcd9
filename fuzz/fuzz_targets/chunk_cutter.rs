#![no_main]
//! See devsynth_core::fuzzing::chunk_cutter.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devsynth_core::fuzzing::chunk_cutter(data));
