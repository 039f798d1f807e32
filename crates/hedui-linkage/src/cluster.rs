//! Clustering pairwise predictions into persons at a threshold, with protection against
//! over-merging:
//! - a cluster never holds two records of a source known to be duplicate-free (the 公安 register
//!   has one record per person), nor two records with different valid ID numbers — that is the
//!   difference between twins and one person;
//! - two clusters that already hold several records are joined only by a strong edge (a weak
//!   bridge does not chain them);
//! - cannot-link constraints from casework are obeyed, must-link ones applied first.
//!
//! Edges are taken strongest first (ties broken by record index), so the result does not
//! depend on the thread count or input order of the pairs.

use serde::{Deserialize, Serialize};

/// Clustering settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// Edges below this match probability are ignored.
    pub threshold: f64,
    /// Probability an edge needs to join two clusters that both hold more than one record.
    pub bridge_probability: f64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            threshold: 0.5,
            bridge_probability: 0.99,
        }
    }
}

/// An edge between two records (global indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// One record.
    pub a: u32,
    /// The other.
    pub b: u32,
    /// Match probability.
    pub probability: f64,
}

/// Per-record facts the constraints need.
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    /// Source of each record, and whether that source is duplicate-free.
    pub source: Vec<u16>,
    /// Duplicate-free sources.
    pub duplicate_free: Vec<bool>,
    /// A valid ID number per record (`None` when missing or invalid).
    pub valid_id: Vec<Option<[u8; 18]>>,
    /// Pairs that must be together (applied first).
    pub must_link: Vec<(u32, u32)>,
    /// Pairs that must not be together.
    pub cannot_link: Vec<(u32, u32)>,
}

struct Clusters {
    parent: Vec<u32>,
    size: Vec<u32>,
    /// Per root: sources present (sorted, with one record each) and valid IDs present.
    sources: Vec<Vec<u16>>,
    ids: Vec<Vec<[u8; 18]>>,
    members: Vec<Vec<u32>>,
}

impl Clusters {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
}

/// Clusters `n` records. Returns the cluster of each record, numbered by its smallest member's
/// index (so the numbering is stable).
pub fn cluster(
    n: usize,
    edges: &[Edge],
    input: &ClusterInput,
    settings: &ClusterSettings,
) -> Vec<u32> {
    let mut c = Clusters {
        parent: (0..n as u32).collect(),
        size: vec![1; n],
        sources: (0..n)
            .map(|i| match input.source.get(i) {
                Some(&s)
                    if input
                        .duplicate_free
                        .get(s as usize)
                        .copied()
                        .unwrap_or(false) =>
                {
                    vec![s]
                }
                _ => vec![],
            })
            .collect(),
        ids: (0..n)
            .map(|i| {
                input
                    .valid_id
                    .get(i)
                    .copied()
                    .flatten()
                    .into_iter()
                    .collect()
            })
            .collect(),
        members: (0..n as u32).map(|i| vec![i]).collect(),
    };
    let mut cannot: Vec<(u32, u32)> = input
        .cannot_link
        .iter()
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    cannot.sort_unstable();
    let forbidden = |c: &Clusters, ra: u32, rb: u32| -> bool {
        // Duplicate-free sources and different valid IDs.
        if c.sources[ra as usize]
            .iter()
            .any(|s| c.sources[rb as usize].contains(s))
        {
            return true;
        }
        if c.ids[ra as usize]
            .iter()
            .any(|x| c.ids[rb as usize].iter().any(|y| x != y))
        {
            return true;
        }
        if !cannot.is_empty() {
            for &a in &c.members[ra as usize] {
                for &b in &c.members[rb as usize] {
                    if cannot.binary_search(&(a.min(b), a.max(b))).is_ok() {
                        return true;
                    }
                }
            }
        }
        false
    };
    let union = |c: &mut Clusters, ra: u32, rb: u32| {
        let (big, small) = if c.size[ra as usize] >= c.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        c.parent[small as usize] = big;
        c.size[big as usize] += c.size[small as usize];
        let s = std::mem::take(&mut c.sources[small as usize]);
        c.sources[big as usize].extend(s);
        let i = std::mem::take(&mut c.ids[small as usize]);
        for x in i {
            if !c.ids[big as usize].contains(&x) {
                c.ids[big as usize].push(x);
            }
        }
        let m = std::mem::take(&mut c.members[small as usize]);
        c.members[big as usize].extend(m);
    };
    for &(a, b) in &input.must_link {
        let (ra, rb) = (c.find(a), c.find(b));
        if ra != rb {
            union(&mut c, ra, rb);
        }
    }
    let mut order: Vec<&Edge> = edges
        .iter()
        .filter(|e| e.probability >= settings.threshold && e.a != e.b)
        .collect();
    order.sort_by(|x, y| {
        y.probability
            .total_cmp(&x.probability)
            .then((x.a.min(x.b), x.a.max(x.b)).cmp(&(y.a.min(y.b), y.a.max(y.b))))
    });
    for e in order {
        let (ra, rb) = (c.find(e.a), c.find(e.b));
        if ra == rb || forbidden(&c, ra, rb) {
            continue;
        }
        if c.size[ra as usize] > 1
            && c.size[rb as usize] > 1
            && e.probability < settings.bridge_probability
        {
            continue;
        }
        union(&mut c, ra, rb);
    }
    // Number clusters by their smallest member.
    let mut smallest = vec![u32::MAX; n];
    for i in 0..n as u32 {
        let r = c.find(i) as usize;
        smallest[r] = smallest[r].min(i);
    }
    (0..n as u32)
        .map(|i| smallest[c.find(i) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: u32, b: u32, p: f64) -> Edge {
        Edge {
            a,
            b,
            probability: p,
        }
    }

    #[test]
    fn threshold_and_components() {
        let c = cluster(
            4,
            &[e(0, 1, 0.9), e(2, 3, 0.4)],
            &ClusterInput::default(),
            &ClusterSettings::default(),
        );
        assert_eq!(c, vec![0, 0, 2, 3]);
    }

    #[test]
    fn weak_bridges_do_not_chain_clusters() {
        let edges = [e(0, 1, 0.999), e(2, 3, 0.999), e(1, 2, 0.6)];
        let c = cluster(
            4,
            &edges,
            &ClusterInput::default(),
            &ClusterSettings::default(),
        );
        assert_eq!(c, vec![0, 0, 2, 2]);
        let strong = [e(0, 1, 0.999), e(2, 3, 0.999), e(1, 2, 0.995)];
        let c = cluster(
            4,
            &strong,
            &ClusterInput::default(),
            &ClusterSettings::default(),
        );
        assert_eq!(c, vec![0, 0, 0, 0]);
    }

    #[test]
    fn duplicate_free_sources_and_different_valid_ids_stay_apart() {
        let input = ClusterInput {
            source: vec![0, 1, 1],
            duplicate_free: vec![false, true],
            valid_id: vec![None, None, None],
            ..Default::default()
        };
        // Record 0 matches both register records 1 and 2: only the stronger link is kept.
        let c = cluster(
            3,
            &[e(0, 1, 0.95), e(0, 2, 0.97)],
            &input,
            &ClusterSettings::default(),
        );
        assert_eq!(c, vec![0, 1, 0]);

        let twins = ClusterInput {
            valid_id: vec![Some(*b"421303198001010018"), Some(*b"421303198001010026")],
            ..Default::default()
        };
        let c = cluster(2, &[e(0, 1, 0.999)], &twins, &ClusterSettings::default());
        assert_eq!(c, vec![0, 1]);
    }

    #[test]
    fn casework_constraints() {
        let input = ClusterInput {
            must_link: vec![(0, 3)],
            cannot_link: vec![(1, 2)],
            ..Default::default()
        };
        let c = cluster(4, &[e(1, 2, 0.9999)], &input, &ClusterSettings::default());
        assert_eq!(c, vec![0, 1, 2, 0]);
    }

    #[test]
    fn edge_order_does_not_matter() {
        let mut edges = vec![e(0, 1, 0.9), e(1, 2, 0.9), e(3, 4, 0.7), e(2, 3, 0.95)];
        let a = cluster(
            5,
            &edges,
            &ClusterInput::default(),
            &ClusterSettings::default(),
        );
        edges.reverse();
        let b = cluster(
            5,
            &edges,
            &ClusterInput::default(),
            &ClusterSettings::default(),
        );
        assert_eq!(a, b);
    }
}
