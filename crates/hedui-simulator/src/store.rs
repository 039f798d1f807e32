//! The compact in-memory form of one dataset: every published row version pre-serialised as the
//! tail of a JSON object in one byte buffer, addressed by `_seq`.
//!
//! Row `i` (0-based) of the buffer has `_seq = i + 1`: sequence numbers are handed out in the
//! order rows are appended, so a page is a slice of the buffer and `since` is an index. A row
//! stores its *body* — `,"<header>":<value>` for every column, then `}` — so that a record is
//! `{"_seq":N` + body, and two versions of a row are equal exactly when their bodies are equal
//! byte for byte (the change test of a publish).
//!
//! A changed row supersedes its older version: the older version is marked in a bitset and no
//! longer served, so the API serves the dataset's current state ordered by `_seq`, the same rows
//! a 前置库 table holds (where the update moves the row to its new `seq`).

use std::collections::HashMap;
use std::hash::Hasher;

/// A row's identity: a 128-bit hash of (key value, occurrence of that key within its snapshot).
/// The occurrence keeps rows with a duplicated or missing key apart instead of merging them.
pub(crate) type RowId = [u64; 2];

/// The identity of the `occurrence`-th row (0-based) with this key value in a snapshot.
pub(crate) fn row_id(key: Option<&str>, occurrence: u32) -> RowId {
    let mut out = [0u64; 2];
    for (salt, slot) in out.iter_mut().enumerate() {
        // SipHash-1-3 with fixed keys: deterministic across runs and platforms.
        let mut h = std::hash::DefaultHasher::new();
        h.write_u8(salt as u8);
        match key {
            Some(k) => {
                h.write_u8(1);
                h.write(k.as_bytes());
            }
            None => h.write_u8(0),
        }
        h.write_u32(occurrence);
        *slot = h.finish();
    }
    out
}

/// Appends `s` as a JSON string (with quotes) to `out`.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The `,"<header>":` prefix of each column in a body.
pub(crate) fn key_prefixes(headers: &[String]) -> Vec<Vec<u8>> {
    headers
        .iter()
        .map(|h| {
            let mut p = vec![b','];
            push_json_str(&mut p, h);
            p.push(b':');
            p
        })
        .collect()
}

/// Appends a row body (see the module doc) to `out`.
pub(crate) fn push_body<'a>(
    out: &mut Vec<u8>,
    prefixes: &[Vec<u8>],
    values: impl Iterator<Item = Option<&'a str>>,
) {
    for (prefix, value) in prefixes.iter().zip(values) {
        out.extend_from_slice(prefix);
        match value {
            Some(v) => push_json_str(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// Splits a body into its value tokens (`null` or a JSON string with quotes), one per column.
/// Returns `None` only if the body was not made by [`push_body`] with these prefixes (a bug).
pub(crate) fn split_body<'b>(body: &'b [u8], prefixes: &[Vec<u8>]) -> Option<Vec<&'b [u8]>> {
    let mut out = Vec::with_capacity(prefixes.len());
    let mut pos = 0;
    for prefix in prefixes {
        if !body.get(pos..)?.starts_with(prefix) {
            return None;
        }
        pos += prefix.len();
        let rest = body.get(pos..)?;
        let len = if rest.starts_with(b"null") {
            4
        } else if rest.first() == Some(&b'"') {
            let mut i = 1;
            loop {
                match rest.get(i)? {
                    b'\\' => i += 2,
                    b'"' => break i + 1,
                    _ => i += 1,
                }
            }
        } else {
            return None;
        };
        out.push(&rest[..len]);
        pos += len;
    }
    (body.get(pos..)? == b"}").then_some(out)
}

/// The text of a value token: `None` for `null`.
pub(crate) fn token_text(token: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    if token == b"null" {
        return None;
    }
    let inner = token.get(1..token.len().saturating_sub(1)).unwrap_or(&[]);
    if !inner.contains(&b'\\') {
        // Written from a `&str` by `push_json_str`, so valid UTF-8.
        return std::str::from_utf8(inner)
            .ok()
            .map(std::borrow::Cow::Borrowed);
    }
    serde_json::from_slice::<String>(token)
        .ok()
        .map(std::borrow::Cow::Owned)
}

/// Rows of one snapshot file, serialised but not yet published.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    pub buf: Vec<u8>,
    /// Start of each body in `buf`; `len = rows + 1`.
    pub offsets: Vec<usize>,
    pub ids: Vec<RowId>,
    /// Occurrences seen per key hash in this snapshot, to number duplicates.
    occurrences: HashMap<RowId, u32>,
}

impl Staged {
    pub fn new() -> Staged {
        Staged {
            offsets: vec![0],
            ..Staged::default()
        }
    }

    /// Stages one row; `key` is the value of the dataset's key column.
    pub fn push<'a>(
        &mut self,
        prefixes: &[Vec<u8>],
        key: Option<&str>,
        values: impl Iterator<Item = Option<&'a str>>,
    ) {
        let base = row_id(key, 0);
        let occurrence = self.occurrences.entry(base).or_insert(0);
        let id = if *occurrence == 0 {
            base
        } else {
            row_id(key, *occurrence)
        };
        *occurrence += 1;
        push_body(&mut self.buf, prefixes, values);
        self.offsets.push(self.buf.len());
        self.ids.push(id);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    fn body(&self, i: usize) -> &[u8] {
        &self.buf[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// What a publish did to one dataset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// `_seq` of the versions that changed rows replaced (no longer served).
    pub superseded: Vec<u64>,
    /// The `_seq` range appended (`first..=last`), if any.
    pub appended: Option<(u64, u64)>,
}

/// One page chosen by [`Store::page`]: row indices (`_seq - 1`) in order.
#[derive(Debug)]
pub(crate) struct Page {
    pub rows: Vec<usize>,
    pub next_since: u64,
    pub has_more: bool,
}

/// Every published version of a dataset's rows.
#[derive(Debug)]
pub(crate) struct Store {
    buf: Vec<u8>,
    offsets: Vec<usize>,
    superseded: Vec<u64>,
    live: usize,
    /// Current row version by identity.
    current: HashMap<RowId, u32>,
}

impl Store {
    pub fn new() -> Store {
        Store {
            buf: Vec::new(),
            offsets: vec![0],
            superseded: Vec::new(),
            live: 0,
            current: HashMap::new(),
        }
    }

    /// Rows ever published = the highest `_seq`.
    pub fn published_seq(&self) -> u64 {
        (self.offsets.len() - 1) as u64
    }

    /// Rows served now (current versions).
    pub fn live(&self) -> usize {
        self.live
    }

    /// Bytes held by the row buffer.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn body(&self, row: usize) -> &[u8] {
        &self.buf[self.offsets[row]..self.offsets[row + 1]]
    }

    fn is_superseded(&self, row: usize) -> bool {
        self.superseded
            .get(row / 64)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }

    fn supersede(&mut self, row: usize) {
        let w = row / 64;
        if self.superseded.len() <= w {
            self.superseded.resize(w + 1, 0);
        }
        self.superseded[w] |= 1 << (row % 64);
        self.live -= 1;
    }

    fn append(&mut self, body: &[u8]) -> usize {
        self.buf.extend_from_slice(body);
        self.offsets.push(self.buf.len());
        self.live += 1;
        self.offsets.len() - 2
    }

    /// Publishes a snapshot's rows: new identities and changed bodies get the next `_seq`
    /// numbers in file order; identical rows are left alone. Rows of earlier snapshots that the
    /// new one lacks stay served (departments do not send deletions).
    pub fn apply(&mut self, staged: Staged) -> Applied {
        if self.offsets.len() == 1 {
            return self.take(staged);
        }
        let mut applied = Applied::default();
        let first = self.published_seq() + 1;
        for i in 0..staged.len() {
            let id = staged.ids[i];
            let body = staged.body(i);
            match self.current.get(&id).copied() {
                Some(old) if self.body(old as usize) == body => applied.unchanged += 1,
                Some(old) => {
                    self.supersede(old as usize);
                    applied.superseded.push(u64::from(old) + 1);
                    let row = self.append(body);
                    self.current.insert(id, row_index(row));
                    applied.changed += 1;
                }
                None => {
                    let row = self.append(body);
                    self.current.insert(id, row_index(row));
                    applied.new += 1;
                }
            }
        }
        let last = self.published_seq();
        if last >= first {
            applied.appended = Some((first, last));
        }
        applied
    }

    /// The first publish: every staged row is new (identities are unique within a snapshot),
    /// so the staged buffer becomes the store's without a copy.
    fn take(&mut self, staged: Staged) -> Applied {
        let Staged {
            mut buf,
            mut offsets,
            ids,
            ..
        } = staged;
        buf.shrink_to_fit();
        offsets.shrink_to_fit();
        let n = ids.len();
        self.current = HashMap::with_capacity(n);
        for (row, id) in ids.into_iter().enumerate() {
            self.current.insert(id, row_index(row));
        }
        self.buf = buf;
        self.offsets = offsets;
        self.live = n;
        Applied {
            new: n as u64,
            appended: (n > 0).then_some((1, n as u64)),
            ..Applied::default()
        }
    }

    /// The page after `since`: up to `limit` current rows with `_seq > since`, preceded by up to
    /// `back` current rows with `_seq <= since` (the duplicate-page fault).
    pub fn page(&self, since: u64, limit: usize, back: usize) -> Page {
        let n = self.offsets.len() - 1;
        let start = usize::try_from(since).unwrap_or(usize::MAX).min(n);
        let mut rows = Vec::with_capacity(limit.min(n - start) + back);
        if back > 0 {
            let mut i = start;
            while i > 0 && rows.len() < back {
                i -= 1;
                if !self.is_superseded(i) {
                    rows.push(i);
                }
            }
            rows.reverse();
        }
        let mut i = start;
        let mut taken = 0;
        while i < n && taken < limit {
            if !self.is_superseded(i) {
                rows.push(i);
                taken += 1;
            }
            i += 1;
        }
        let has_more = (i..n).any(|r| !self.is_superseded(r));
        let next_since = rows.last().map_or(since, |&r| r as u64 + 1);
        Page {
            rows,
            next_since,
            has_more,
        }
    }

    /// Current rows (indices) in `_seq` order within `first..=last` (1-based seqs).
    pub fn live_in(&self, first: u64, last: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.offsets.len() - 1;
        let lo = usize::try_from(first.saturating_sub(1)).unwrap_or(n).min(n);
        let hi = usize::try_from(last).unwrap_or(n).min(n);
        (lo..hi).filter(|&r| !self.is_superseded(r))
    }
}

fn row_index(row: usize) -> u32 {
    // A dataset of more than 4 billion row versions would not fit in memory anyway.
    u32::try_from(row).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<Vec<u8>> {
        key_prefixes(&["编号".to_string(), "姓名".to_string()])
    }

    fn stage(rows: &[(&str, Option<&str>)]) -> Staged {
        let p = prefixes();
        let mut s = Staged::new();
        for (k, v) in rows {
            s.push(&p, Some(k), [Some(*k), *v].into_iter());
        }
        s
    }

    #[test]
    fn body_round_trips_escapes() {
        let p = prefixes();
        let mut out = Vec::new();
        push_body(&mut out, &p, [Some("a\"b\\c\n\u{1}"), None].into_iter());
        let tokens = split_body(&out, &p).unwrap();
        assert_eq!(token_text(tokens[0]).unwrap(), "a\"b\\c\n\u{1}");
        assert!(token_text(tokens[1]).is_none());
        let mut record = b"{\"_seq\":1".to_vec();
        record.extend_from_slice(&out);
        let v: serde_json::Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(v["编号"], "a\"b\\c\n\u{1}");
    }

    #[test]
    fn publish_appends_only_new_and_changed() {
        let mut store = Store::new();
        let a = store.apply(stage(&[("1", Some("甲")), ("2", Some("乙")), ("3", None)]));
        assert_eq!((a.new, a.changed, a.unchanged), (3, 0, 0));
        assert_eq!(a.appended, Some((1, 3)));
        let b = store.apply(stage(&[("1", Some("甲")), ("2", Some("丙")), ("4", None)]));
        assert_eq!((b.new, b.changed, b.unchanged), (1, 1, 1));
        assert_eq!(b.superseded, vec![2]);
        assert_eq!(b.appended, Some((4, 5)));
        assert_eq!(store.live(), 4);
        let page = store.page(0, 10, 0);
        assert_eq!(page.rows, vec![0, 2, 3, 4]);
        assert_eq!((page.next_since, page.has_more), (5, false));
        let page = store.page(1, 1, 0);
        assert_eq!(page.rows, vec![2]);
        assert!(page.has_more);
        let page = store.page(3, 10, 2);
        assert_eq!(page.rows, vec![0, 2, 3, 4]);
        let page = store.page(99, 10, 0);
        assert!(page.rows.is_empty());
        assert_eq!(page.next_since, 99);
    }

    #[test]
    fn duplicate_keys_stay_apart() {
        let mut store = Store::new();
        store.apply(stage(&[("1", Some("甲")), ("1", Some("乙"))]));
        let b = store.apply(stage(&[("1", Some("甲")), ("1", Some("乙"))]));
        assert_eq!((b.new, b.changed, b.unchanged), (0, 0, 2));
        assert_eq!(store.live(), 2);
    }
}
