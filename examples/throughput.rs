//! Encodes a file repeatedly and prints MB/s: the core's speed without Python in the way.
//!
//!     cargo run --release --example throughput -- o200k_base FILE [encode|count|split] [SECONDS]
//!
//! THREADS=n encodes or counts the text cut into parts on a pool of n threads, as
//! `encode_ordinary(text, num_threads=n)` does.

use std::time::{Duration, Instant};

use devsynth_core::builtin;
use devsynth_core::encoding::SpecialSet;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: throughput ENCODING FILE [encode|count|split] [SECONDS]");
        std::process::exit(2);
    }
    let enc = builtin::get(&args[1]).expect("unknown encoding");
    let bytes = std::fs::read(&args[2]).expect("cannot read file");
    let text = String::from_utf8_lossy(&bytes);
    let mode = args.get(3).map(String::as_str).unwrap_or("encode");
    let budget = Duration::from_secs_f64(args.get(4).and_then(|s| s.parse().ok()).unwrap_or(2.0));
    let none = SpecialSet::empty();
    let start = Instant::now();
    let mut rounds = 0u64;
    // The fastest round: on a shared machine, the one least disturbed by others.
    let mut best = f64::MAX;
    let mut tokens = 0usize;
    // ROUNDS=n runs exactly n rounds (for callgrind), whatever the time budget.
    let fixed: Option<u64> = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok());
    // SWEEP=n writes n MB before each round (not timed): other work evicting the caches, as
    // between the calls of a real program.
    let sweep_mb: usize = std::env::var("SWEEP")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let mut sweep = vec![0u8; sweep_mb << 20];
    let threads: Option<usize> = std::env::var("THREADS").ok().and_then(|r| r.parse().ok());
    let pool = devsynth_core::threads::pool(threads).expect("a pool");
    let split = devsynth_core::threads::Split {
        pool: &pool,
        parts: devsynth_core::threads::parts_for(text.len(), threads),
    };
    while fixed.map_or(start.elapsed() < budget || rounds == 0, |n| rounds < n) {
        for (i, b) in sweep.iter_mut().enumerate().step_by(64) {
            *b = b.wrapping_add(i as u8);
        }
        std::hint::black_box(&sweep);
        let round = Instant::now();
        tokens = match mode {
            "count" if split.parts > 1 => enc.count_ordinary_parallel(&text, None, split).unwrap(),
            "encode" if split.parts > 1 => enc
                .encode_ordinary_parallel(&text, None, split)
                .unwrap()
                .len(),
            "count" => enc.count(&text, &none).unwrap(),
            // The pre-tokenizer alone: pieces, no lookups.
            "split" => {
                let mut pieces = 0;
                enc.pretokenizer()
                    .for_each_piece(&text, |_| pieces += 1)
                    .unwrap();
                pieces
            }
            _ => enc.encode(&text, &none).unwrap().len(),
        };
        best = best.min(round.elapsed().as_secs_f64());
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64() / rounds as f64;
    println!(
        "{} {mode}: {tokens} tokens, {:.1} MB/s ({:.2} ms per round; best {:.3} ms)",
        args[1],
        text.len() as f64 / secs / 1e6,
        secs * 1e3,
        best * 1e3
    );
}
