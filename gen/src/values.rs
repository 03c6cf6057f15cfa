//! Debugger values: `repr()` texts of the sizes and shapes Python prints, including `;` inside strings and
//! dicts (which the legacy reader must not split on) and the odd huge one (which the binary encoder cuts).

use std::fmt::Write;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const NAMES: &[&str] = &["request", "user_id", "rows", "self", "kwargs", "total", "query", "item", "result", "page"];
const WORDS: &[&str] = &["alice", "bob", "pending", "paid", "EUR", "a; b", "select 1;", "x=1; y=2", "ok", "GET /"];

/// A variable name to go with a value.
pub(crate) fn variable_name(rng: &mut ChaCha8Rng) -> &'static str {
    NAMES.choose(rng).copied().unwrap_or("x")
}

/// A `repr()` of some value.
pub(crate) fn repr_value(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    match rng.gen_range(0..100) {
        0..=24 => {
            let _ = write!(out, "{}", rng.gen_range(-5..100_000));
        }
        25..=44 => push_str_repr(&mut out, rng),
        45..=54 => out.push_str(["None", "True", "False"].choose(rng).copied().unwrap_or("None")),
        55..=69 => {
            out.push('[');
            for i in 0..rng.gen_range(0..8) {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}", rng.gen_range(0..1000));
            }
            out.push(']');
        }
        70..=89 => {
            out.push('{');
            for i in 0..rng.gen_range(1..6) {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "'{}': ", variable_name(rng));
                push_str_repr(&mut out, rng);
            }
            out.push('}');
        }
        90..=98 => {
            let _ = write!(out, "<app.models.Order object at 0x7f{:010x}>", rng.gen::<u64>() & 0xff_ffff_ffff);
        }
        _ => {
            // A big payload: sometimes past the binary format's 4096-byte repr limit.
            let len = rng.gen_range(500..6000);
            out.push_str("b'");
            while out.len() < len {
                out.push_str("\\x00\\x1f payload; ");
            }
            out.push('\'');
        }
    }
    out
}

fn push_str_repr(out: &mut String, rng: &mut ChaCha8Rng) {
    out.push('\'');
    out.push_str(WORDS.choose(rng).copied().unwrap_or("ok"));
    out.push('\'');
}
