//! Blocking: which pairs are compared at all.
//!
//! Each [`BlockingRule`] proposes pairs that agree on a key. The candidate set is the union of
//! the rules without duplicates: a pair proposed by rule *k* is kept only if no earlier rule
//! covers it (Splink's approach), so no global set of seen pairs is needed. Blocks whose pair
//! count exceeds a cap are skipped and reported, never silently.

use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::record::{IdQuality, NO_DATE, Records};

/// A blocking rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockingRule {
    /// Same normalised ID number.
    IdNumber,
    /// One number fails its check character and is one edit (a substituted digit or two
    /// adjacent digits swapped) away from the other.
    IdOneEdit,
    /// Same toneless pinyin of the name and same birth date.
    PinyinBirthDate,
    /// Same surname pinyin, birth date and township.
    SurnameBirthDateTownship,
    /// Same standardised name and township (for records without ID and birth date).
    NameTownship,
}

impl BlockingRule {
    /// The default rules, in order.
    pub const DEFAULT: [BlockingRule; 5] = [
        BlockingRule::IdNumber,
        BlockingRule::IdOneEdit,
        BlockingRule::PinyinBirthDate,
        BlockingRule::SurnameBirthDateTownship,
        BlockingRule::NameTownship,
    ];

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BlockingRule::IdNumber => "id_number",
            BlockingRule::IdOneEdit => "id_one_edit",
            BlockingRule::PinyinBirthDate => "pinyin+birth_date",
            BlockingRule::SurnameBirthDateTownship => "surname_pinyin+birth_date+township",
            BlockingRule::NameTownship => "name+township",
        }
    }

    /// The key of a record under a key-equality rule (`None` when a field is missing).
    fn key(self, r: &Records, i: usize) -> Option<u64> {
        let mix = |parts: &[u64]| {
            let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
            for p in parts {
                h = (h ^ p).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                h ^= h >> 31;
            }
            h
        };
        match self {
            BlockingRule::IdNumber => {
                (r.id_quality[i] != IdQuality::Missing).then(|| mix(&id_words(&r.id18[i])))
            }
            BlockingRule::IdOneEdit => None,
            BlockingRule::PinyinBirthDate => (r.pinyin[i] != 0 && r.dob[i] != NO_DATE)
                .then(|| mix(&[1, u64::from(r.pinyin[i]), r.dob[i] as u64])),
            BlockingRule::SurnameBirthDateTownship => {
                (r.surname_pinyin[i] != 0 && r.dob[i] != NO_DATE && r.township[i] != 0).then(|| {
                    mix(&[
                        2,
                        u64::from(r.surname_pinyin[i]),
                        r.dob[i] as u64,
                        u64::from(r.township[i]),
                    ])
                })
            }
            BlockingRule::NameTownship => (r.name[i] != 0 && r.township[i] != 0)
                .then(|| mix(&[3, u64::from(r.name[i]), u64::from(r.township[i])])),
        }
    }

    /// Whether this rule proposes the pair (used to drop pairs an earlier rule already gave).
    pub fn covers(self, left: &Records, l: usize, right: &Records, r: usize) -> bool {
        match self {
            BlockingRule::IdOneEdit => one_edit(left, l, right, r),
            _ => match (self.key(left, l), self.key(right, r)) {
                (Some(a), Some(b)) => a == b && self.fields_equal(left, l, right, r),
                _ => false,
            },
        }
    }

    /// Exact field equality behind the key (guards against hash collisions).
    fn fields_equal(self, left: &Records, l: usize, right: &Records, r: usize) -> bool {
        match self {
            BlockingRule::IdNumber => left.id18[l] == right.id18[r],
            BlockingRule::IdOneEdit => one_edit(left, l, right, r),
            BlockingRule::PinyinBirthDate => {
                left.pinyin[l] == right.pinyin[r] && left.dob[l] == right.dob[r]
            }
            BlockingRule::SurnameBirthDateTownship => {
                left.surname_pinyin[l] == right.surname_pinyin[r]
                    && left.dob[l] == right.dob[r]
                    && left.township[l] == right.township[r]
            }
            BlockingRule::NameTownship => {
                left.name[l] == right.name[r] && left.township[l] == right.township[r]
            }
        }
    }
}

fn id_words(id: &[u8; 18]) -> [u64; 3] {
    let mut w = [0u64; 3];
    for (k, chunk) in id.chunks(6).enumerate() {
        for b in chunk {
            w[k] = (w[k] << 8) | u64::from(*b);
        }
    }
    w
}

/// True if exactly one of the two numbers is invalid-or-both-invalid and they are one edit apart.
fn one_edit(left: &Records, l: usize, right: &Records, r: usize) -> bool {
    let (qa, qb) = (left.id_quality[l], right.id_quality[r]);
    if qa == IdQuality::Missing || qb == IdQuality::Missing {
        return false;
    }
    if qa == IdQuality::Valid && qb == IdQuality::Valid {
        return false;
    }
    let (a, b) = (&left.id18[l], &right.id18[r]);
    let diffs: Vec<usize> = (0..18).filter(|&i| a[i] != b[i]).collect();
    match diffs.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
        _ => false,
    }
}

/// Calls `f` with every one-edit neighbour of an ID number: every single-character
/// substitution (digits, and `X` in the last place) and every adjacent transposition.
fn each_neighbour(id: &[u8; 18], mut f: impl FnMut([u8; 18])) {
    for i in 0..18 {
        let alphabet: &[u8] = if i == 17 {
            b"0123456789X"
        } else {
            b"0123456789"
        };
        for &c in alphabet {
            if c != id[i] {
                let mut n = *id;
                n[i] = c;
                f(n);
            }
        }
    }
    for i in 0..17 {
        if id[i] != id[i + 1] {
            let mut n = *id;
            n.swap(i, i + 1);
            f(n);
        }
    }
}

/// A hash of an ID number whose high bits (which [`KeyFilter`] reads) depend on every digit.
fn id_hash(id: &[u8; 18]) -> u64 {
    let word = |r: std::ops::Range<usize>| id[r].iter().fold(0u64, |w, &b| w << 8 | u64::from(b));
    let h = (word(0..8) ^ word(8..16).rotate_left(29) ^ word(16..18) << 40)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h ^ h >> 32).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// One bit per value of `key >> shift`, set for the keys a set holds, sixteen bits per key: a
/// key, if (as nearly all the other side's are) it is not held, is turned away by a look at
/// these few hundred kilobytes (which the processor's cache holds) rather than in the set's
/// hash map of megabytes (which it does not). Keys must be hashes, their high bits spread.
struct KeyFilter {
    present: Vec<u64>,
    shift: u32,
}

impl KeyFilter {
    fn new(keys: impl ExactSizeIterator<Item = u64>) -> KeyFilter {
        let bits = (keys.len() * 16).next_power_of_two().max(64);
        let shift = 64 - bits.trailing_zeros();
        let mut present = vec![0u64; bits / 64];
        for key in keys {
            let b = key >> shift;
            present[(b >> 6) as usize] |= 1 << (b & 63);
        }
        KeyFilter { present, shift }
    }

    /// False if `key` is not held; true if it may be.
    fn may_hold(&self, key: u64) -> bool {
        let b = key >> self.shift;
        self.present[(b >> 6) as usize] >> (b & 63) & 1 == 1
    }
}

/// A candidate pair: left index, right index, and the index of the rule that proposed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Left record.
    pub l: u32,
    /// Right record.
    pub r: u32,
    /// Rule index.
    pub rule: u8,
}

/// Pair counts of one rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleReport {
    /// Rule name.
    pub rule: String,
    /// Pairs the rule proposes on its own.
    pub proposed: u64,
    /// Pairs it adds to the earlier rules' (the candidates it contributes).
    pub added: u64,
    /// Largest blocks: (pairs, left records, right records).
    pub largest_blocks: Vec<(u64, u32, u32)>,
    /// Blocks skipped for exceeding the cap, and the pairs they held.
    pub skipped_blocks: u64,
    /// Pairs in skipped blocks.
    pub skipped_pairs: u64,
}

/// What blocking will cost (or cost): per-rule pair counts and the largest blocks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BlockingReport {
    /// Left records.
    pub left_records: u64,
    /// Right records.
    pub right_records: u64,
    /// All pairs (left × right, or n(n−1)/2 when deduplicating).
    pub comparisons_without_blocking: u64,
    /// Per rule.
    pub rules: Vec<RuleReport>,
    /// Distinct candidate pairs.
    pub candidates: u64,
}

/// Blocking settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocking {
    /// Rules in order.
    pub rules: Vec<BlockingRule>,
    /// A block proposing more pairs than this is skipped (and reported).
    pub max_block_pairs: u64,
}

impl Default for Blocking {
    fn default() -> Self {
        Blocking {
            rules: BlockingRule::DEFAULT.to_vec(),
            max_block_pairs: 250_000,
        }
    }
}

/// Each rule's pairs, from [`Blocking::all_rule_pairs`], with what they were made for.
#[derive(Debug, Clone)]
pub struct RulePairs {
    blocking: Blocking,
    dedupe: bool,
    sizes: (usize, usize),
    per_rule: Vec<OneRule>,
}

/// One rule's pairs (sorted, unique) and its report.
type OneRule = (BlockingRule, Vec<(u32, u32)>, RuleReport);

impl RulePairs {
    /// The pairs of `rule`, if it was one of the rules.
    pub fn get(&self, rule: BlockingRule) -> Option<&[(u32, u32)]> {
        self.per_rule
            .iter()
            .find(|(r, _, _)| *r == rule)
            .map(|(_, p, _)| p.as_slice())
    }

    /// Made by `blocking` for inputs of these sizes (and the same mode).
    pub fn fits(&self, blocking: &Blocking, left: &Records, right: &Records, dedupe: bool) -> bool {
        self.blocking == *blocking
            && self.dedupe == dedupe
            && self.sizes == (left.len(), right.len())
    }
}

/// Records grouped by key: sorted `(key, record)` entries and, per key, its run in them.
/// One allocation for the entries and one for the map, whatever the number of keys.
struct KeyIndex {
    entries: Vec<(u64, u32)>,
    runs: HashMap<u64, (u32, u32)>,
    /// The keys held: a 2M-record register met each of four rules' indexes of 100,000 records
    /// with a cache miss per record before.
    filter: KeyFilter,
}

impl KeyIndex {
    fn build(recs: &Records, rule: BlockingRule) -> KeyIndex {
        let mut entries: Vec<(u64, u32)> = (0..recs.len())
            .into_par_iter()
            .filter_map(|i| rule.key(recs, i).map(|k| (k, i as u32)))
            .collect();
        entries.par_sort_unstable();
        let mut runs = HashMap::with_capacity_and_hasher(entries.len(), Default::default());
        let mut start = 0usize;
        while start < entries.len() {
            let key = entries[start].0;
            let mut end = start + 1;
            while end < entries.len() && entries[end].0 == key {
                end += 1;
            }
            runs.insert(key, (start as u32, (end - start) as u32));
            start = end;
        }
        let filter = KeyFilter::new(runs.keys().copied());
        KeyIndex {
            entries,
            runs,
            filter,
        }
    }

    /// Whether `key` is held.
    fn holds(&self, key: u64) -> bool {
        self.filter.may_hold(key) && self.runs.contains_key(&key)
    }

    fn get(&self, key: u64) -> &[(u64, u32)] {
        match self.runs.get(&key) {
            Some(&(s, n)) => &self.entries[s as usize..(s + n) as usize],
            None => &[],
        }
    }
}

impl Blocking {
    /// Candidate pairs between `left` and `right` (or within `left` when `dedupe`, each
    /// unordered pair once with `l < r`), sorted, with the report. Deterministic whatever the
    /// thread count.
    pub fn candidates(
        &self,
        left: &Records,
        right: &Records,
        dedupe: bool,
    ) -> (Vec<Candidate>, BlockingReport) {
        self.candidates_from(
            &self.all_rule_pairs(left, right, dedupe),
            left,
            right,
            dedupe,
        )
    }

    /// Every rule's pairs ([`Blocking::rule_pairs`]), each rule joined once: training runs its
    /// EM sessions on some rules' pairs and prediction takes the union of all of them, so a job
    /// that does both works them out once.
    pub fn all_rule_pairs(&self, left: &Records, right: &Records, dedupe: bool) -> RulePairs {
        RulePairs {
            blocking: self.clone(),
            dedupe,
            sizes: (left.len(), right.len()),
            // The rules side by side: each has sequential steps (building its key index,
            // sorting its pairs) that leave a core to the others.
            per_rule: self
                .rules
                .par_iter()
                .map(|&rule| {
                    let (pairs, report) = self.rule_pairs(rule, left, right, dedupe);
                    (rule, pairs, report)
                })
                .collect(),
        }
    }

    /// [`Blocking::candidates`] from rule pairs already worked out. Pairs made under other
    /// settings, or for inputs of other sizes, are not used: the rules are joined afresh.
    pub fn candidates_from(
        &self,
        known: &RulePairs,
        left: &Records,
        right: &Records,
        dedupe: bool,
    ) -> (Vec<Candidate>, BlockingReport) {
        if !known.fits(self, left, right, dedupe) {
            return self.candidates(left, right, dedupe);
        }
        let mut report = BlockingReport {
            left_records: left.len() as u64,
            right_records: right.len() as u64,
            comparisons_without_blocking: if dedupe {
                (left.len() as u64) * (left.len() as u64).saturating_sub(1) / 2
            } else {
                left.len() as u64 * right.len() as u64
            },
            ..Default::default()
        };
        let mut all = Vec::new();
        for (k, (_, pairs, rr)) in known.per_rule.iter().enumerate() {
            let mut rr = rr.clone();
            rr.proposed = pairs.len() as u64;
            let earlier = &self.rules[..k];
            let kept: Vec<Candidate> = pairs
                .par_iter()
                .filter(|&&(l, r)| {
                    !earlier
                        .iter()
                        .any(|e| e.covers(left, l as usize, right, r as usize))
                })
                .map(|&(l, r)| Candidate {
                    l,
                    r,
                    rule: k as u8,
                })
                .collect();
            rr.added = kept.len() as u64;
            report.rules.push(rr);
            all.extend(kept);
        }
        all.par_sort_unstable();
        report.candidates = all.len() as u64;
        (all, report)
    }

    /// Left × right pairs sharing a key. Only the smaller side is indexed; the larger one is
    /// streamed past it (a 100k-record file against a 2M-record register indexes 100k keys).
    fn join(
        &self,
        rule: BlockingRule,
        left: &Records,
        right: &Records,
        rr: &mut RuleReport,
    ) -> Vec<(u32, u32)> {
        let small_is_left = left.len() <= right.len();
        let (small, big) = if small_is_left {
            (left, right)
        } else {
            (right, left)
        };
        let index = KeyIndex::build(small, rule);
        // Keys of the larger side that meet the index, with their block sizes.
        let hits: Vec<(u64, u32)> = (0..big.len())
            .into_par_iter()
            .filter_map(|j| {
                let k = rule.key(big, j)?;
                index.holds(k).then_some((k, j as u32))
            })
            .collect();
        let mut big_count: HashMap<u64, u64> = HashMap::default();
        for (k, _) in &hits {
            *big_count.entry(*k).or_default() += 1;
        }
        let mut sizes: Vec<(u64, u32, u32)> = big_count
            .iter()
            .map(|(k, &nb)| {
                let ns = index.get(*k).len() as u64;
                let (nl, nr) = if small_is_left { (ns, nb) } else { (nb, ns) };
                (ns * nb, nl as u32, nr as u32)
            })
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for &(n, _, _) in &sizes {
            if n > self.max_block_pairs {
                rr.skipped_blocks += 1;
                rr.skipped_pairs += n;
            }
        }
        sizes.truncate(5);
        rr.largest_blocks = sizes;
        let cap = self.max_block_pairs;
        hits.into_par_iter()
            .flat_map_iter(|(k, j)| {
                let block = index.get(k);
                let too_big = block.len() as u64 * big_count.get(&k).copied().unwrap_or(0) > cap;
                let run = if too_big { &[][..] } else { block };
                run.iter()
                    .map(move |&(_, i)| if small_is_left { (i, j) } else { (j, i) })
            })
            .collect()
    }

    /// Pairs within one file sharing a key, each unordered pair once with `l < r`.
    fn self_join(
        &self,
        rule: BlockingRule,
        recs: &Records,
        rr: &mut RuleReport,
    ) -> Vec<(u32, u32)> {
        let index = KeyIndex::build(recs, rule);
        let mut sizes: Vec<(u64, u32, u32)> = Vec::new();
        let mut out = Vec::new();
        let mut start = 0usize;
        let e = &index.entries;
        while start < e.len() {
            let mut end = start + 1;
            while end < e.len() && e[end].0 == e[start].0 {
                end += 1;
            }
            let n = (end - start) as u64;
            let pairs = n * (n - 1) / 2;
            if pairs > 0 {
                sizes.push((pairs, n as u32, n as u32));
                if pairs > self.max_block_pairs {
                    rr.skipped_blocks += 1;
                    rr.skipped_pairs += pairs;
                } else {
                    for a in start..end {
                        for b in a + 1..end {
                            let (x, y) = (e[a].1, e[b].1);
                            out.push((x.min(y), x.max(y)));
                        }
                    }
                }
            }
            start = end;
        }
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.truncate(5);
        rr.largest_blocks = sizes;
        out
    }

    /// All pairs one rule proposes (without dropping earlier rules' pairs), sorted and unique.
    pub fn rule_pairs(
        &self,
        rule: BlockingRule,
        left: &Records,
        right: &Records,
        dedupe: bool,
    ) -> (Vec<(u32, u32)>, RuleReport) {
        let mut rr = RuleReport {
            rule: rule.name().to_owned(),
            ..Default::default()
        };
        let mut pairs: Vec<(u32, u32)> = if rule == BlockingRule::IdOneEdit {
            one_edit_pairs(left, right, dedupe)
        } else if dedupe {
            self.self_join(rule, left, &mut rr)
        } else {
            self.join(rule, left, right, &mut rr)
        };
        pairs.retain(|&(l, r)| rule.fields_equal(left, l as usize, right, r as usize));
        pairs.par_sort_unstable();
        pairs.dedup();
        (pairs, rr)
    }
}

/// Pairs where one number fails its check character and is one edit (a substitution or an
/// adjacent transposition) from the other. Only the smaller side is indexed: its exact numbers,
/// and the neighbours of its invalid numbers; the larger side is streamed against both (its
/// own invalid numbers enumerate their neighbours into the small exact index).
fn one_edit_pairs(left: &Records, right: &Records, dedupe: bool) -> Vec<(u32, u32)> {
    let exact_index = |recs: &Records| -> HashMap<[u8; 18], Vec<u32>> {
        let mut m: HashMap<[u8; 18], Vec<u32>> = HashMap::default();
        for i in 0..recs.len() {
            if recs.id_quality[i] != IdQuality::Missing {
                m.entry(recs.id18[i]).or_default().push(i as u32);
            }
        }
        m
    };
    // From each invalid number of `from`, its neighbours found in `into` (some 190 a number,
    // nearly all of them turned away by the filter).
    let probe = |from: &Records, into: &HashMap<[u8; 18], Vec<u32>>| -> Vec<(u32, u32)> {
        let filter = KeyFilter::new(into.keys().map(id_hash));
        (0..from.len())
            .into_par_iter()
            .filter(|&i| from.id_quality[i] == IdQuality::Invalid)
            .flat_map_iter(|i| {
                let mut found = Vec::new();
                each_neighbour(&from.id18[i], |n| {
                    if filter.may_hold(id_hash(&n))
                        && let Some(js) = into.get(&n)
                    {
                        found.extend(js.iter().map(|&j| (i as u32, j)));
                    }
                });
                found
            })
            .collect()
    };
    if dedupe {
        let idx = exact_index(left);
        return probe(left, &idx)
            .into_iter()
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
    }
    let small_is_left = left.len() <= right.len();
    let (small, big) = if small_is_left {
        (left, right)
    } else {
        (right, left)
    };
    let orient = |s: u32, b: u32| if small_is_left { (s, b) } else { (b, s) };
    // Big side's invalid numbers → small side's numbers (a register often has none: then the
    // small side's numbers are not indexed at all).
    let mut out: Vec<(u32, u32)> = if big.id_quality.contains(&IdQuality::Invalid) {
        probe(big, &exact_index(small))
            .into_iter()
            .map(|(b, s)| orient(s, b))
            .collect()
    } else {
        Vec::new()
    };
    // Small side's invalid numbers: their neighbours, looked up by the big side's numbers.
    let mut neighbour_index: HashMap<[u8; 18], Vec<u32>> = HashMap::default();
    for i in 0..small.len() {
        if small.id_quality[i] == IdQuality::Invalid {
            each_neighbour(&small.id18[i], |n| {
                neighbour_index.entry(n).or_default().push(i as u32);
            });
        }
    }
    if !neighbour_index.is_empty() {
        let filter = KeyFilter::new(neighbour_index.keys().map(id_hash));
        out.extend(
            (0..big.len())
                .into_par_iter()
                .filter(|&j| {
                    big.id_quality[j] != IdQuality::Missing
                        && filter.may_hold(id_hash(&big.id18[j]))
                })
                .flat_map_iter(|j| {
                    neighbour_index
                        .get(&big.id18[j])
                        .into_iter()
                        .flatten()
                        .map(move |&s| orient(s, j as u32))
                })
                .collect::<Vec<_>>(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{InputRecord, Interner, prepare};

    fn rec(id: &str, name: &str, dob: &str) -> InputRecord {
        InputRecord {
            record_id: id.to_owned() + name,
            name: Some(name.into()),
            id_number: Some(id.into()),
            birth_date: Some(dob.into()),
            ..Default::default()
        }
    }

    #[test]
    fn union_without_duplicates_and_typo_neighbours() {
        let mut s = Interner::new();
        let left = prepare(
            &[
                rec("421303198001010018", "张三", "1980-01-01"),
                rec("421303198001020018", "李四", "1980-01-02"), // typo of the right's 0102?
                rec("", "王五", "1975-05-05"),
            ],
            &mut s,
            None,
        );
        let right = prepare(
            &[
                rec("421303198001010018", "张三", "1980-01-01"),
                rec("421303198001030019", "李四", "1980-01-02"),
                rec("421321197505050022", "王五", "1975-05-05"),
            ],
            &mut s,
            None,
        );
        let (c, report) = Blocking::default().candidates(&left, &right, false);
        let pairs: Vec<(u32, u32, u8)> = c.iter().map(|c| (c.l, c.r, c.rule)).collect();
        // (0,0) by the ID, (2,2) by pinyin + birth date; (0,0) is not repeated by rule 2.
        assert!(pairs.contains(&(0, 0, 0)));
        assert!(pairs.contains(&(2, 2, 2)));
        assert_eq!(pairs.iter().filter(|p| p.0 == 0 && p.1 == 0).count(), 1);
        assert_eq!(report.candidates, c.len() as u64);
        assert_eq!(report.rules.len(), 5);

        // Rule pairs worked out once give the same candidates and report; pairs made for
        // other inputs are not used.
        let blocking = Blocking::default();
        let shared = blocking.all_rule_pairs(&left, &right, false);
        let (c2, report2) = blocking.candidates_from(&shared, &left, &right, false);
        assert_eq!(c2, c);
        assert_eq!(
            serde_json::to_string(&report2).ok(),
            serde_json::to_string(&report).ok()
        );
        assert_eq!(
            shared.get(BlockingRule::IdNumber),
            Some(&[(0u32, 0u32)][..])
        );
        let fewer = prepare(
            &[rec("421303198001010018", "张三", "1980-01-01")],
            &mut s,
            None,
        );
        assert!(!shared.fits(&blocking, &fewer, &right, false));
        let (c3, _) = blocking.candidates_from(&shared, &fewer, &right, false);
        assert_eq!(c3, blocking.candidates(&fewer, &right, false).0);
    }

    /// A typo is found whichever side has it, whichever side is the larger, and when the
    /// larger side has no invalid number at all.
    #[test]
    fn one_edit_pairs_whichever_side_has_the_typo() {
        let mut s = Interner::new();
        let valid = "421303198001010018";
        // One digit substituted: the check character (4 would be right) fails.
        let typo = "421303198001010118";
        let three = |s: &mut Interner, id: &str| {
            prepare(
                &[
                    rec("", "李四", "1990-01-01"),
                    rec(id, "张三", "1980-01-01"),
                    rec("", "王五", "1975-05-05"),
                ],
                s,
                None,
            )
        };
        let one = |s: &mut Interner, id: &str| prepare(&[rec(id, "张三", "1980-01-01")], s, None);
        let (small_valid, big_typo) = (one(&mut s, valid), three(&mut s, typo));
        let (small_typo, big_valid) = (one(&mut s, typo), three(&mut s, valid));
        assert_eq!(big_typo.id_quality[1], IdQuality::Invalid);
        assert!(!big_valid.id_quality.contains(&IdQuality::Invalid));
        assert_eq!(one_edit_pairs(&small_valid, &big_typo, false), vec![(0, 1)]);
        assert_eq!(one_edit_pairs(&big_typo, &small_valid, false), vec![(1, 0)]);
        assert_eq!(one_edit_pairs(&small_typo, &big_valid, false), vec![(0, 1)]);
        assert_eq!(one_edit_pairs(&big_valid, &small_typo, false), vec![(1, 0)]);
        assert!(one_edit_pairs(&small_valid, &big_valid, false).is_empty());
    }

    #[test]
    fn neighbours_cover_substitutions_and_transpositions() {
        let id = *b"421303198001010018";
        let mut n = Vec::new();
        each_neighbour(&id, |x| n.push(x));
        assert!(n.contains(b"421303198001010019"));
        assert!(n.contains(b"421303189001010018"));
        assert!(!n.contains(&id));
    }

    #[test]
    fn dedupe_gives_each_unordered_pair_once_and_no_self_pairs() {
        let mut s = Interner::new();
        let recs = prepare(
            &[
                rec("421303198001010018", "张三", "1980-01-01"),
                rec("421303198001010018", "张三", "1980-01-01"),
                rec("421303198001010018", "張三", "1980-01-01"),
            ],
            &mut s,
            None,
        );
        let (c, _) = Blocking::default().candidates(&recs, &recs, true);
        let pairs: Vec<(u32, u32)> = c.iter().map(|c| (c.l, c.r)).collect();
        assert_eq!(pairs, vec![(0, 1), (0, 2), (1, 2)]);
    }
}
