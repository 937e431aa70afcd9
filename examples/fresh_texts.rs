//! Encodes several files in turn, each once per round, and prints the best time per megabyte:
//! the speed on text whose pieces the per-thread caches have not just seen (a hostile input
//! drawn anew each round, as `benches/compare.py` does), without Python in the way.
//!
//!     cargo run --release --example fresh_texts -- o200k_base SECONDS FILE...
//!
//! Give files of one kind (the same generator, different seeds). The first round over them all
//! is a warm-up (tables paged in, caches allocated) and is not counted.

use std::time::{Duration, Instant};

use devsynth_core::builtin;
use devsynth_core::encoding::SpecialSet;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: fresh_texts ENCODING SECONDS FILE...");
        std::process::exit(2);
    }
    let enc = builtin::get(&args[1]).expect("unknown encoding");
    let budget = Duration::from_secs_f64(args[2].parse().expect("SECONDS"));
    let texts: Vec<String> = args[3..]
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("cannot read file")).into_owned())
        .collect();
    let none = SpecialSet::empty();
    for text in &texts {
        enc.encode(text, &none).unwrap();
    }
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0u64;
    let mut tokens = 0usize;
    while runs == 0 || start.elapsed() < budget {
        for text in &texts {
            let t = Instant::now();
            tokens = enc.encode(text, &none).unwrap().len();
            let ms_per_mb = t.elapsed().as_secs_f64() * 1e3 / (text.len() as f64 / 1e6);
            best = best.min(ms_per_mb);
            runs += 1;
        }
    }
    println!(
        "{}: best {best:.2} ms per MB ({:.1} MB/s) over {runs} encodes of {} texts ({tokens} tokens in the last)",
        args[1],
        1e3 / best,
        texts.len()
    );
}
