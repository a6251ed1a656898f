//! bcrypt on this machine: one verification per cost, on one core (what a Lambda with
//! 1769 MB, one vCPU, has). Lambda's CPU share is proportional to memory below that, so
//! at 256 MB (about 1/7 of a vCPU) a verification would take about 7 times as long.

use std::time::Instant;

use crate::Result;
use crate::stats::Summary;

pub struct BcryptTiming {
    pub cost: u32,
    pub verify_ms: Summary,
}

pub fn measure(costs: &[u32]) -> Result<Vec<BcryptTiming>> {
    let mut out = Vec::new();
    for &cost in costs {
        let hash = bcrypt::hash("bench horse staple 7", cost)?;
        // Enough runs for a stable median without spending more than a few seconds.
        let runs = if cost <= 8 { 50 } else { 9 };
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let ok = bcrypt::verify("bench horse staple 7", &hash)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if !ok {
                return Err("bcrypt did not verify its own hash".into());
            }
        }
        out.push(BcryptTiming {
            cost,
            verify_ms: Summary::of(&times),
        });
    }
    Ok(out)
}
