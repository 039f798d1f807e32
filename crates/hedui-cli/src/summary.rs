//! Human-readable summaries printed by the commands.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The summary `hedui synth` prints.
pub fn synth_summary(r: &hedui_synth::Report, out: &Path, elapsed: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Synthetic city written to {}", out.display());
    let _ = writeln!(
        s,
        "  {} persons in {} households ({} twin pairs); seed {}; snapshots {} and {}",
        r.persons, r.households, r.twin_pairs, r.seed, r.snapshots[0], r.snapshots[1]
    );
    let _ = writeln!(
        s,
        "  assistance roster: {} households; applications: {}",
        r.cases, r.applications
    );
    let _ = writeln!(s, "  extracts:");
    for f in &r.files {
        if f.dataset.starts_with("truth/") {
            continue;
        }
        let _ = writeln!(
            s,
            "    {:<10} {:<32} {:>10} rows  {}",
            f.snapshot,
            f.dataset,
            f.rows,
            f.path.display()
        );
    }
    let _ = writeln!(
        s,
        "  planted events between the snapshots (roster households / all):"
    );
    for (k, v) in &r.events {
        let roster = r.roster_events.get(k).copied().unwrap_or(0);
        let _ = writeln!(s, "    {k:<20} {roster:>7} / {v}");
    }
    let _ = writeln!(s, "  ground truth: {}", out.join("truth").display());
    let rows: u64 = r.files.iter().map(|f| f.rows).sum();
    let secs = elapsed.as_secs_f64();
    let _ = write!(
        s,
        "  {rows} rows in {secs:.1} s ({:.0} rows/s)",
        rows as f64 / secs.max(1e-9)
    );
    if let Some(mib) = peak_rss_mib() {
        let _ = write!(s, "; peak memory {mib:.0} MiB");
    }
    let _ = writeln!(s);
    s
}
