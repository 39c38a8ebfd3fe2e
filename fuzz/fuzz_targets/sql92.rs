#![no_main]
//! See `rocketmq_fuzz::sql92` (fuzz/src/lib.rs) for what this target exercises.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketmq_fuzz::sql92(data);
});
