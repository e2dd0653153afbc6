//! Where a server's instructions go, per message: `callgrind_annotate` of the two
//! profiles of a callgrind pair, function by function, with the difference divided by
//! the difference of the message counts (start-up and shutdown cancel out).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::process::Command;

/// Self cost (`Ir`) of each function in a callgrind profile.
fn self_costs(profile: &Path) -> io::Result<HashMap<String, f64>> {
    let out = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100"])
        .arg(profile)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "callgrind_annotate {} failed",
            profile.display()
        )));
    }
    let mut costs = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `  820,190 (14.68%)  file:function [object]`
        let mut parts = line.trim_start().splitn(3, ' ');
        let (Some(count), Some(share), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<f64>() else {
            continue;
        };
        if !share.starts_with('(') || rest.contains("PROGRAM TOTALS") {
            continue;
        }
        let rest = rest.trim();
        let rest = rest.rsplit_once(" [").map_or(rest, |(f, _)| f);
        let function = rest.split_once(':').map_or(rest, |(_, f)| f);
        *costs.entry(function.to_string()).or_insert(0.0) += count;
    }
    Ok(costs)
}

/// The `top` functions by `Ir` per message between the profiles `(n1, p1)` and
/// `(n2, p2)`, taken after `n1` and `n2` messages.
pub fn per_message(
    (n1, p1): (f64, &Path),
    (n2, p2): (f64, &Path),
    top: usize,
) -> io::Result<Vec<(String, f64)>> {
    let (a, b) = (self_costs(p1)?, self_costs(p2)?);
    let mut rows: Vec<(String, f64)> = b
        .iter()
        .map(|(f, &cost)| {
            (
                f.clone(),
                (cost - a.get(f).copied().unwrap_or(0.0)) / (n2 - n1),
            )
        })
        .collect();
    rows.sort_by(|x, y| y.1.total_cmp(&x.1));
    rows.truncate(top);
    Ok(rows)
}
