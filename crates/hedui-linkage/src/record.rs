//! Records as the engine sees them: identity fields standardised once with `hedui-identity`
//! and stored column by column in compact form (interned strings, fixed-size ID numbers, dates
//! as day numbers), so that comparing a pair touches a few cache lines.

use chrono::{Datelike, NaiveDate};
use hedui_identity::address::parse_address;
use hedui_identity::date::{DateContext, parse_date, parse_iso_day};
use hedui_identity::id::{
    Gender, IdContext, IdIssue, IdLevel, parse_gender, parse_id_with, parse_plain_id18,
};
use hedui_identity::name::standardize_name;
use hedui_identity::phone::parse_phone;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One record as delivered: the identity fields as text. Any field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The record's id in its source.
    pub record_id: String,
    /// Name.
    pub name: Option<String>,
    /// Former name (曾用名).
    pub former_name: Option<String>,
    /// ID number.
    pub id_number: Option<String>,
    /// Birth date.
    pub birth_date: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// One record's identity fields, borrowed (from an [`InputRecord`] or straight from the
/// columns of a file, so that millions of records need not be copied into owned strings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's id in its source.
    pub record_id: &'a str,
    /// Name.
    pub name: Option<&'a str>,
    /// Former name.
    pub former_name: Option<&'a str>,
    /// ID number.
    pub id_number: Option<&'a str>,
    /// Birth date.
    pub birth_date: Option<&'a str>,
    /// Gender.
    pub gender: Option<&'a str>,
    /// Address.
    pub address: Option<&'a str>,
    /// Phone.
    pub phone: Option<&'a str>,
}

/// One identity field of a record, for [`RecordSource::field`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    /// The record's id.
    RecordId,
    /// Name.
    Name,
    /// Former name.
    FormerName,
    /// ID number.
    IdNumber,
    /// Birth date.
    BirthDate,
    /// Gender.
    Gender,
    /// Address.
    Address,
    /// Phone.
    Phone,
}

/// Anything that can hand out records by index.
pub trait RecordSource: Sync {
    /// Number of records.
    fn len(&self) -> usize;
    /// Record `i` (`i < len()`).
    fn get(&self, i: usize) -> RecordRef<'_>;
    /// One field of record `i`. Standardising scans one field over millions of records; a
    /// source that stores its fields column by column answers this without building the whole
    /// record.
    fn field(&self, i: usize, f: RecordField) -> Option<&str> {
        let r = self.get(i);
        match f {
            RecordField::RecordId => Some(r.record_id),
            RecordField::Name => r.name,
            RecordField::FormerName => r.former_name,
            RecordField::IdNumber => r.id_number,
            RecordField::BirthDate => r.birth_date,
            RecordField::Gender => r.gender,
            RecordField::Address => r.address,
            RecordField::Phone => r.phone,
        }
    }
    /// Field `f` of records `rows`, in order, handed to `each` with the record's index: what
    /// [`RecordSource::field`] gives record by record, which a source holding its fields
    /// column by column gives faster by walking the column.
    fn each_field<'a>(
        &'a self,
        f: RecordField,
        rows: std::ops::Range<usize>,
        mut each: impl FnMut(usize, Option<&'a str>),
    ) {
        for i in rows {
            each(i, self.field(i, f));
        }
    }
    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecordSource for [InputRecord] {
    fn len(&self) -> usize {
        <[InputRecord]>::len(self)
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        let r = &self[i];
        RecordRef {
            record_id: &r.record_id,
            name: r.name.as_deref(),
            former_name: r.former_name.as_deref(),
            id_number: r.id_number.as_deref(),
            birth_date: r.birth_date.as_deref(),
            gender: r.gender.as_deref(),
            address: r.address.as_deref(),
            phone: r.phone.as_deref(),
        }
    }
}

impl<const N: usize> RecordSource for [InputRecord; N] {
    fn len(&self) -> usize {
        N
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        RecordSource::get(self.as_slice(), i)
    }
}

impl RecordSource for Vec<InputRecord> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        RecordSource::get(self.as_slice(), i)
    }
}

/// Interned strings: equal strings get equal ids across both sides of a link job. Id 0 is
/// reserved for "missing".
///
/// The strings lie end to end in one buffer and the hash table holds only their fingerprints
/// and ids, so a register's million distinct names and addresses cost one copy of their text
/// and a few bytes each, not two heap allocations apiece. Strings are told apart by their XXH3
/// fingerprints (see [`fingerprint`] and [`PrintTable`]): finding a string already held reads
/// its fingerprint, not its text, and the fingerprint can be worked out on another thread
/// ([`Interner::intern_fingerprinted`]), leaving the one that interns only the table to visit.
#[derive(Clone)]
pub struct Interner {
    text: String,
    /// End of each string in `text`; string 0 is the empty one.
    ends: Vec<usize>,
    /// Every string but string 0, by fingerprint (empty after [`Interner::from_parts`] until
    /// built).
    table: PrintTable,
    /// `table` holds every string (false after [`Interner::from_parts`] until first needed).
    indexed: bool,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("strings", &self.ends.len())
            .field("bytes", &self.text.len())
            .finish()
    }
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

/// A string's 128-bit XXH3 fingerprint, by whose low 96 bits an [`Interner`] and the
/// preparation's tables of values tell strings apart: two of a job's (at most a few million)
/// distinct strings share them with probability below 10⁻¹⁶, so no text need be compared.
pub(crate) fn fingerprint(s: &str) -> u128 {
    twox_hash::XxHash3_128::oneshot(s.as_bytes())
}

/// String `id` (not 0) of an interner's `text` and `ends`.
fn held<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let i = id as usize;
    &text[ends[i - 1]..ends[i]]
}

impl Interner {
    /// A new interner holding only the "missing" entry.
    pub fn new() -> Interner {
        Interner {
            text: String::new(),
            ends: vec![0],
            table: PrintTable::default(),
            indexed: true,
        }
    }

    /// The id of `s` (0 for the empty string).
    pub fn intern(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        self.intern_fingerprinted(s, fingerprint(s))
    }

    /// [`Interner::intern`] of a string whose [`fingerprint`] is `print`.
    pub(crate) fn intern_fingerprinted(&mut self, s: &str, print: u128) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if !self.indexed {
            self.index();
        }
        if let Some(id) = self.table.find(print) {
            return id;
        }
        let id = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(self.text.len());
        self.table.insert(print, id);
        id
    }

    /// Reads the table's slots for strings of these fingerprints, so that interning them next
    /// finds the slots in cache (see [`PrintTable`]).
    fn touch(&self, prints: impl Iterator<Item = u128>) {
        self.table.touch(prints);
    }

    /// Room for the strings of `records` more records, sized as a register has them (the
    /// synthetic 2M register: 0.42 distinct strings and 12 bytes of text per record, its
    /// households sharing addresses and its people common names). Interning a register's
    /// strings one after another is the sequential step of standardising it, and every time the
    /// table and the buffers outgrew themselves they were moved, every entry of the table put
    /// in its place again; sized once, they are not. A file of more distinct values grows as
    /// before; one of fewer leaves the text buffers' spare room untouched (so never paged in),
    /// though the table is written whole (see `PrintTable::reserve`).
    pub fn reserve_for(&mut self, records: usize) {
        if !self.indexed {
            self.index();
        }
        let (strings, bytes) = (records / 2, records.saturating_mul(12));
        self.text.reserve(bytes);
        self.ends.reserve(strings);
        self.table.reserve(strings);
    }

    /// The string of an id.
    pub fn get(&self, id: u32) -> &str {
        let i = id as usize;
        match (
            i.checked_sub(1).and_then(|p| self.ends.get(p)),
            self.ends.get(i),
        ) {
            (Some(&start), Some(&end)) => self.text.get(start..end).unwrap_or(""),
            _ => "",
        }
    }

    /// Number of distinct strings (including "missing").
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The strings end to end, and the end of each (string 0, "missing", ends at 0).
    pub(crate) fn parts(&self) -> (&str, &[usize]) {
        (&self.text, &self.ends)
    }

    /// An interner from [`Interner::parts`], if they fit together. Its hash table is built
    /// only if something is interned into it: strings read back only to be looked up by id
    /// (as [`crate::prepared::rebase`] does) never pay for it.
    pub(crate) fn from_parts(text: String, ends: Vec<usize>) -> Option<Interner> {
        if ends.first() != Some(&0) || !offsets_fit(&text, &ends) {
            return None;
        }
        Some(Interner {
            text,
            ends,
            table: PrintTable::default(),
            indexed: false,
        })
    }

    /// Builds the hash table of every string (after [`Interner::from_parts`]). A string held
    /// twice keeps the first id.
    fn index(&mut self) {
        self.indexed = true;
        let Interner {
            text, ends, table, ..
        } = self;
        *table = PrintTable::default();
        table.reserve(ends.len());
        for id in 1..ends.len() as u32 {
            let print = fingerprint(held(text, ends, id));
            if table.find(print).is_none() {
                table.insert(print, id);
            }
        }
    }

    /// True if only "missing" is held.
    pub fn is_empty(&self) -> bool {
        self.ends.len() <= 1
    }
}

/// The strings of samples of records ([`Records::subset`]) in an interner of their own, copied
/// from the records' interner: a string is copied the first time a sample has it, and its id
/// mapped, with no hashing (the source's strings are distinct already). The u sample's two
/// pools of 20,000 records each hashed 280,000 strings one after another before.
#[derive(Debug)]
pub struct SampleStrings<'a> {
    from: &'a Interner,
    /// Per id of `from`: its id here plus one, or 0 while it has none.
    ids: Vec<u32>,
    text: String,
    ends: Vec<usize>,
}

impl<'a> SampleStrings<'a> {
    /// An empty sample's strings, to be copied from `from`.
    pub fn new(from: &'a Interner) -> SampleStrings<'a> {
        SampleStrings {
            from,
            ids: vec![0; from.len()],
            text: String::new(),
            ends: vec![0],
        }
    }

    /// The id here of string `of` of the source.
    fn id(&mut self, of: u32) -> u32 {
        if of == 0 {
            return 0;
        }
        match self.ids.get(of as usize) {
            Some(&0) => {
                let id = self.ends.len() as u32;
                self.text.push_str(self.from.get(of));
                self.ends.push(self.text.len());
                self.ids[of as usize] = id + 1;
                id
            }
            Some(&known) => known - 1,
            // Not an id of the source: the missing string.
            None => 0,
        }
    }

    /// The interner of the strings copied.
    pub fn finish(self) -> Interner {
        Interner::from_parts(self.text, self.ends).unwrap_or_default()
    }
}

/// True if `ends` are non-decreasing character boundaries of `text`, the last at its end.
fn offsets_fit(text: &str, ends: &[usize]) -> bool {
    ends.windows(2).all(|w| w[0] <= w[1])
        && ends.last().is_none_or(|&e| e == text.len())
        && ends.iter().all(|&e| text.is_char_boundary(e))
        && (!ends.is_empty() || text.is_empty())
}

/// Record ids, front-coded. The ids of one source share long prefixes
/// (`gongan/population:GA000000123`, `…124`), so each is stored as the number of bytes it shares
/// with the id before it and the bytes that follow; every [`RecordIds::BLOCK`]th id is stored
/// whole, so that any id is rebuilt from at most that many entries. Two million such 29-byte
/// ids take about 5 bytes each rather than 37 (text and offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordIds {
    /// Per id: the bytes shared with the id before it (one byte, 0 at a block's start), the
    /// length of the rest (LEB128), the rest.
    bytes: Vec<u8>,
    /// Where in `bytes` each block of [`RecordIds::BLOCK`] ids starts.
    blocks: Vec<usize>,
    len: usize,
    /// The id last pushed, which the next one shares bytes with.
    last: String,
}

/// One entry of [`RecordIds::bytes`] starting at `at`: the shared length, the rest, and where
/// the next entry starts (`None` if the bytes there are not a whole entry).
fn id_entry(bytes: &[u8], at: usize) -> Option<(usize, &str, usize)> {
    let (shared, rest, next) = id_entry_bytes(bytes, at)?;
    Some((shared, std::str::from_utf8(rest).ok()?, next))
}

/// [`id_entry`] with the rest as bytes, not checked to be text.
fn id_entry_bytes(bytes: &[u8], at: usize) -> Option<(usize, &[u8], usize)> {
    let shared = usize::from(*bytes.get(at)?);
    let (mut rest, mut shift, mut i) = (0usize, 0u32, at + 1);
    loop {
        let b = *bytes.get(i)?;
        i += 1;
        rest |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    Some((shared, bytes.get(i..i.checked_add(rest)?)?, i + rest))
}

impl RecordIds {
    /// Ids per block of front coding.
    pub const BLOCK: usize = 16;

    /// Appends an id.
    pub fn push(&mut self, id: &str) {
        let shared = if self.len.is_multiple_of(Self::BLOCK) {
            self.blocks.push(self.bytes.len());
            0
        } else {
            let mut n = self
                .last
                .bytes()
                .zip(id.bytes())
                .take(usize::from(u8::MAX))
                .take_while(|(a, b)| a == b)
                .count();
            while !id.is_char_boundary(n) {
                n -= 1;
            }
            n
        };
        let rest = &id[shared..];
        self.bytes.push(shared as u8);
        let mut n = rest.len();
        while n >= 0x80 {
            self.bytes.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.bytes.push(n as u8);
        self.bytes.extend_from_slice(rest.as_bytes());
        self.last.truncate(shared);
        self.last.push_str(rest);
        self.len += 1;
    }

    /// Appends `n` ids as `n` calls of [`RecordIds::push`] would: `ids(range, f)` calls `f`
    /// with the ids of `range` (within `0..n`) in order. A block's first id is stored whole,
    /// so whole blocks are coded side by side and their bytes put one after the other.
    pub fn extend<'a>(
        &mut self,
        n: usize,
        ids: impl Fn(std::ops::Range<usize>, &mut dyn FnMut(&'a str)) + Sync,
    ) {
        /// Ids coded by one task.
        const RUN: usize = RecordIds::BLOCK * 256;
        let i = n.min((Self::BLOCK - self.len % Self::BLOCK) % Self::BLOCK);
        ids(0..i, &mut |id| self.push(id));
        let runs: Vec<RecordIds> = (0..(n - i).div_ceil(RUN))
            .into_par_iter()
            .map(|r| {
                let mut part = RecordIds::default();
                ids(i + r * RUN..(i + (r + 1) * RUN).min(n), &mut |id| {
                    part.push(id);
                });
                part
            })
            .collect();
        self.bytes
            .reserve(runs.iter().map(|r| r.bytes.len()).sum::<usize>());
        for part in runs {
            let base = self.bytes.len();
            self.blocks.extend(part.blocks.iter().map(|b| b + base));
            self.bytes.extend_from_slice(&part.bytes);
            self.len += part.len;
            self.last = part.last;
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Room for `n` more ids' block starts.
    pub fn reserve(&mut self, n: usize) {
        self.blocks.reserve(n.div_ceil(Self::BLOCK));
    }

    /// The coded ids, the start of each block, and the number of ids.
    pub(crate) fn parts(&self) -> (&[u8], &[usize], usize) {
        (&self.bytes, &self.blocks, self.len)
    }

    /// Ids from [`RecordIds::parts`], if they are whole: every entry decodes, blocks start
    /// where they should and share nothing, no entry shares more than the id before it has.
    pub(crate) fn from_parts(bytes: Vec<u8>, blocks: Vec<usize>, len: usize) -> Option<RecordIds> {
        if blocks.len() != len.div_ceil(Self::BLOCK) {
            return None;
        }
        let mut last = String::new();
        let mut at = 0;
        for k in 0..len {
            if k.is_multiple_of(Self::BLOCK) && blocks[k / Self::BLOCK] != at {
                return None;
            }
            let (shared, rest, next) = id_entry(&bytes, at)?;
            if (k.is_multiple_of(Self::BLOCK) && shared != 0)
                || shared > last.len()
                || !last.is_char_boundary(shared)
            {
                return None;
            }
            last.truncate(shared);
            last.push_str(rest);
            at = next;
        }
        (at == bytes.len()).then_some(RecordIds {
            bytes,
            blocks,
            len,
            last,
        })
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of record `i`, written into `buf` (emptied first; left empty if `i` is out of
    /// range).
    pub fn get_into(&self, i: usize, buf: &mut String) {
        buf.clear();
        if i >= self.len {
            return;
        }
        // The entries before record `i` in its block, as bytes: the id is checked to be text
        // once, not each of them.
        let mut id = std::mem::take(buf).into_bytes();
        let mut at = self.blocks[i / Self::BLOCK];
        for _ in 0..=i % Self::BLOCK {
            let Some((shared, rest, next)) = id_entry_bytes(&self.bytes, at) else {
                id.clear();
                break;
            };
            id.truncate(shared);
            id.extend_from_slice(rest);
            at = next;
        }
        *buf = String::from_utf8(id).unwrap_or_else(|e| {
            let mut bytes = e.into_bytes();
            bytes.clear();
            String::from_utf8(bytes).unwrap_or_default()
        });
    }

    /// Reads the first byte of the block of each record of `records`, so that getting their ids
    /// next finds the blocks in cache: a run of lookups scattered over a register's megabytes of
    /// ids then waits for its cache misses together, not one after another (a prefetch without
    /// `unsafe`, as [`PrintTable`]'s).
    pub fn touch(&self, records: impl Iterator<Item = usize>) {
        let mut x = 0u8;
        for i in records {
            if let Some(&at) = self.blocks.get(i / Self::BLOCK) {
                x ^= self.bytes.get(at).copied().unwrap_or(0);
            }
        }
        std::hint::black_box(x);
    }

    /// The id of record `i` (empty if out of range).
    pub fn get(&self, i: usize) -> String {
        let mut s = String::new();
        self.get_into(i, &mut s);
        s
    }
}

/// Sentinel for a missing date.
pub const NO_DATE: i32 = i32::MIN;

/// How trustworthy a record's ID number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdQuality {
    /// No usable number.
    Missing,
    /// The right shape but the check character is wrong (a typo somewhere).
    Invalid,
    /// Passes the check character.
    Valid,
}

/// Standardised records, column by column.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Source record ids.
    pub record_id: RecordIds,
    /// Normalised 18-character ID numbers (`[0; 18]` when missing).
    pub id18: Vec<[u8; 18]>,
    /// ID quality.
    pub id_quality: Vec<IdQuality>,
    /// The number was delivered in the 15-digit form.
    pub id_was15: Vec<bool>,
    /// Name with whitespace removed and width normalised, but no character folding.
    pub name_raw: Vec<u32>,
    /// Standardised name (simplified, variants folded, dots unified; `?` for unknown chars).
    pub name: Vec<u32>,
    /// The name contains an unknown-character wildcard.
    pub name_wildcard: Vec<bool>,
    /// Toneless pinyin of the name.
    pub pinyin: Vec<u32>,
    /// Toneless pinyin of the surname.
    pub surname_pinyin: Vec<u32>,
    /// Standardised former name.
    pub former_name: Vec<u32>,
    /// Birth date as days since 1970-01-01 ([`NO_DATE`] when missing). Taken from the record,
    /// or, when the record has none, from a *valid* ID number or from the surviving digits of
    /// one a spreadsheet put in scientific notation.
    pub dob: Vec<i32>,
    /// 1 male, 2 female, 0 missing (derived from a valid ID number when not stated).
    pub gender: Vec<u8>,
    /// Nine-digit township code (0 when unknown).
    pub township: Vec<u32>,
    /// Interned village or community name (0 when unknown).
    pub village: Vec<u32>,
    /// Interned normalised address text (0 when missing).
    pub address: Vec<u32>,
    /// Phone as a number (0 when missing).
    pub phone: Vec<u64>,
}

/// Calls macro `$m` with the names of every [`Records`] column of one value per record (all
/// but the record ids).
macro_rules! per_record_columns {
    ($m:ident) => {
        $m!(
            id18,
            id_quality,
            id_was15,
            name_raw,
            name,
            name_wildcard,
            pinyin,
            surname_pinyin,
            former_name,
            dob,
            gender,
            township,
            village,
            address,
            phone
        )
    };
}

impl Records {
    /// Room for `n` more records in every column (a caller that knows how many records a
    /// chunked read will bring sizes the columns once: growing 15 columns of millions of
    /// entries by doubling copies them and touches twice the memory). The front-coded ids,
    /// a few bytes each, grow as they come.
    pub fn reserve(&mut self, n: usize) {
        self.record_id.reserve(n);
        macro_rules! reserve {
            ($($c:ident),*) => {$( self.$c.reserve(n); )*};
        }
        per_record_columns!(reserve);
    }

    /// The columns that hold [`Interner`] ids.
    pub(crate) fn interned_columns_mut(&mut self) -> [&mut Vec<u32>; 7] {
        [
            &mut self.name_raw,
            &mut self.name,
            &mut self.pinyin,
            &mut self.surname_pinyin,
            &mut self.former_name,
            &mut self.village,
            &mut self.address,
        ]
    }

    /// Records `rows` (in that order), their strings copied into `into` (a small interner of
    /// their own keeps a sample's strings close together in memory). Rows out of range are
    /// skipped.
    pub fn subset(&self, rows: &[usize], into: &mut SampleStrings<'_>) -> Records {
        let mut out = Records::default();
        out.reserve(rows.len());
        let mut id = String::new();
        for &i in rows.iter().filter(|&&i| i < self.len()) {
            self.record_id.get_into(i, &mut id);
            out.record_id.push(&id);
            macro_rules! copy {
                ($($c:ident),*) => {$( out.$c.push(self.$c[i]); )*};
            }
            per_record_columns!(copy);
        }
        for column in out.interned_columns_mut() {
            for v in column.iter_mut() {
                *v = into.id(*v);
            }
        }
        out
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.record_id.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.record_id.is_empty()
    }
}

/// A standardised name, interned.
#[derive(Debug, Clone, Copy, Default)]
struct NameIds {
    raw: u32,
    name: u32,
    wildcard: bool,
    pinyin: u32,
    surname_pinyin: u32,
}

/// A standardised address, interned.
#[derive(Debug, Clone, Copy, Default)]
struct AddressIds {
    township: u32,
    village: u32,
    text: u32,
}

/// The per-record fields that do not repeat (ID number, phone) or depend on the record's other
/// fields (the ID's checks use its stated gender and birth date).
struct PerRecord {
    id18: [u8; 18],
    id_quality: IdQuality,
    id_was15: bool,
    dob: i32,
    gender: u8,
    phone: u64,
}

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// Converts a day number back to a date.
pub fn date_of(days_since_epoch: i32) -> Option<NaiveDate> {
    if days_since_epoch == NO_DATE {
        return None;
    }
    NaiveDate::from_num_days_from_ce_opt(days_since_epoch + 719_163)
}

/// A name's forms: as written (blanks removed, width normalised) when that differs from the
/// standardised form, standardised, has a wildcard, pinyin, surname pinyin.
type NameForms = (Option<String>, String, bool, String, String);

fn standardise_name(raw: &str) -> NameForms {
    let n = standardize_name(raw);
    let nfkc = hedui_identity::text::nfkc(raw);
    let cleaned = hedui_identity::text::strip_blanks(&nfkc);
    let cleaned = (cleaned != n.standardized.as_str()).then(|| cleaned.into_owned());
    // The first word of the pinyin key is the surname's (or, for names without a surname split,
    // the first part's).
    let surname_py = n.pinyin.split(' ').next().unwrap_or("").to_owned();
    (
        cleaned,
        n.standardized,
        !n.wildcards.is_empty(),
        n.pinyin,
        surname_py,
    )
}

/// A phone number as a number. Plain 11-digit mobile numbers (most of them) skip the full parser.
fn phone_number(raw: &str) -> u64 {
    let b = raw.as_bytes();
    if b.len() == 11 && b[0] == b'1' && b.iter().all(u8::is_ascii_digit) {
        return raw.parse().unwrap_or(0);
    }
    parse_phone(raw, Some("0722"))
        .normalized
        .and_then(|p| p.replace('-', "").parse().ok())
        .unwrap_or(0)
}

/// A record's ID number, gender and phone, as [`per_record`] reads them.
struct IdFields<'a> {
    id_number: Option<&'a str>,
    gender: Option<&'a str>,
    phone: Option<&'a str>,
}

fn per_record(r: IdFields<'_>, stated_dob: Option<NaiveDate>, ctx: &DateContext) -> PerRecord {
    let stated_gender = r.gender.and_then(parse_gender);
    let mut out = PerRecord {
        id18: [0u8; 18],
        id_quality: IdQuality::Missing,
        id_was15: false,
        dob: NO_DATE,
        gender: 0,
        phone: r.phone.map_or(0, phone_number),
    };
    let mut id_dob = None;
    let mut id_gender = None;
    if let Some(plain) = r.id_number.and_then(parse_plain_id18) {
        // Most numbers arrive clean: no allocation, no cleaning.
        out.id18 = plain.id18;
        if plain.check_ok {
            out.id_quality = IdQuality::Valid;
            id_dob = if stated_dob.is_none() {
                plain.birth_date()
            } else {
                None
            };
            id_gender = Some(plain.gender);
        } else {
            out.id_quality = IdQuality::Invalid;
        }
    } else if let Some(raw) = r.id_number {
        let id = parse_id_with(
            raw,
            &IdContext {
                stated_gender,
                stated_birth_date: stated_dob,
                as_of: ctx.reference,
            },
        );
        if let Some(n) = &id.normalized
            && n.len() == 18
        {
            out.id18.copy_from_slice(n.as_bytes());
            out.id_was15 = id.issues.contains(&IdIssue::Upgraded15);
            if id.level >= IdLevel::CheckDigitValid {
                out.id_quality = IdQuality::Valid;
                id_dob = id.birth_date;
                id_gender = id.gender;
            } else {
                out.id_quality = IdQuality::Invalid;
            }
        } else if id.known_prefix.is_some() {
            // A number a spreadsheet put in scientific notation: unusable as a number, but its
            // surviving digits still carry the birth date.
            id_dob = id.birth_date;
        }
    }
    out.dob = stated_dob.or(id_dob).map_or(NO_DATE, days);
    out.gender = match stated_gender.or(id_gender) {
        Some(Gender::Male) => 1,
        Some(Gender::Female) => 2,
        None => 0,
    };
    out
}

/// Standardises records and interns their strings into `interner`.
///
/// Names, addresses and birth dates repeat across a population (a household shares an
/// address, a city shares birth dates and common names), so each distinct value is
/// standardised once, in parallel, and interned once; only the ID number and the phone are
/// worked out per record. `reference` is the date "today" for validation (no clock is read).
pub fn prepare<S: RecordSource + ?Sized>(
    records: &S,
    interner: &mut Interner,
    reference: Option<NaiveDate>,
) -> Records {
    let mut out = Records::default();
    out.reserve(records.len());
    interner.reserve_for(records.len());
    prepare_with(
        records,
        interner,
        reference,
        &mut PrepareCache::default(),
        &mut out,
    );
    out
}

/// Ids by fingerprint (the low 96 bits of a [`fingerprint`] decide equality), by open
/// addressing with linear probing, a value's home slot picked by the fingerprint's low bits.
/// The table of a register's distinct names is megabytes, and nearly every lookup misses the
/// processor's caches; with the slots' addresses known, [`PrintTable::touch`] reads the home
/// slots of a run of values one after another, so that their misses overlap rather than each
/// lookup waiting for its own (a prefetch, without `unsafe`). On the 100k × 2M link this took
/// the scans of names, addresses and birth dates from 0.49 to 0.34 s, and hashbrown's table
/// (whose slots' addresses are its own) could not do it.
#[derive(Debug, Clone, Default)]
struct PrintTable {
    /// A power of two of slots (or none). A slot holds the low 96 bits of a fingerprint and,
    /// above them, the id plus one; a free slot is 0.
    slots: Vec<u128>,
    len: usize,
}

/// The bits of a fingerprint a [`PrintTable`] keeps.
const LOW96: u128 = (1 << 96) - 1;

impl PrintTable {
    /// The id of the value with fingerprint `print`, if held.
    fn find(&self, print: u128) -> Option<u32> {
        let mask = self.slots.len().checked_sub(1)?;
        let key = print & LOW96;
        let mut i = print as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot & LOW96 == key {
                return Some(((slot >> 96) as u32).wrapping_sub(1));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a value not held, with id `id` (below `u32::MAX`).
    fn insert(&mut self, print: u128, id: u32) {
        self.reserve(1);
        self.place((print & LOW96) | (u128::from(id + 1) << 96));
        self.len += 1;
    }

    /// Room for `more` values beyond those held (at most three slots in four taken).
    fn reserve(&mut self, more: usize) {
        let wanted = (self.len + more).saturating_mul(4) / 3 + 1;
        if wanted <= self.slots.len() {
            return;
        }
        let size = wanted.next_power_of_two().max(1 << 10);
        // Zeroed by writing, not by the allocator: the values moved in below probe their
        // slots (a read) before filling them (a write), and a page of fresh zeroed memory
        // first read is mapped to the shared zero page, so that the write after it faults a
        // second time and flushes every thread's TLB. On the 100k × 2M link the names' and
        // addresses' tables growing spent 0.05 s of processor time in such faults.
        // (`black_box` keeps the compiler from turning the writes back into a zeroed
        // allocation.)
        let mut slots = Vec::with_capacity(size);
        slots.resize(size, std::hint::black_box(0));
        let old = std::mem::replace(&mut self.slots, slots);
        for slot in old.into_iter().filter(|&s| s != 0) {
            self.place(slot);
        }
    }

    fn place(&mut self, slot: u128) {
        let mask = self.slots.len() - 1;
        let mut i = slot as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    /// Reads the home slot of each fingerprint of `prints` (see the type's documentation).
    fn touch(&self, prints: impl Iterator<Item = u128>) {
        let Some(mask) = self.slots.len().checked_sub(1) else {
            return;
        };
        let mut x = 0u128;
        for print in prints {
            x ^= self.slots[print as usize & mask];
        }
        std::hint::black_box(x);
    }
}

/// The distinct raw values of one field met so far, and the standardised form of each: a
/// value is hashed once per record that has it and standardised once per job, however many
/// chunks and files it recurs in.
#[derive(Debug, Default)]
struct Seen<T> {
    /// Each distinct value's id, by fingerprint.
    ids: PrintTable,
    /// The standardised form of each id below `forms.len()`; ids from there up were met in
    /// the chunk being prepared and are standardised at its end.
    forms: Vec<T>,
}

/// The id [`Seen::scan_unless`] gives a record whose value was read without the table.
const READ_ELSEWHERE: u32 = u32::MAX - 1;

/// Which value each record of a chunk has, and where the chunk's new values first occur.
struct Scanned {
    /// Per record: the value's id, or `u32::MAX` when the field is missing.
    of_record: Vec<u32>,
    /// Per value first met in this chunk, in id order: a record that has it.
    first: Vec<u32>,
}

impl<T> Seen<T> {
    /// Each record's value id, numbering values not met before from `forms.len()` on. A value
    /// equal to the record before's takes its id without a look in the table: a register lists
    /// a household's members one after another, and in the synthetic one two addresses in
    /// three repeat the row before's. Records go a run at a time: their values fingerprinted,
    /// the run's table slots touched together, then looked up in order.
    fn scan<S: RecordSource + ?Sized>(&mut self, records: &S, field: RecordField) -> Scanned {
        self.scan_unless(records, field, |_, _| false)
    }

    /// [`Seen::scan`], but a record whose value `read(record, value)` reads itself (returning
    /// true) is neither looked up nor numbered: its id is [`READ_ELSEWHERE`].
    fn scan_unless<S: RecordSource + ?Sized>(
        &mut self,
        records: &S,
        field: RecordField,
        mut read: impl FnMut(usize, &str) -> bool,
    ) -> Scanned {
        /// Records whose table slots are read together.
        const RUN: usize = 16;
        /// What a record of a run needs.
        #[derive(Clone, Copy)]
        enum Look {
            /// Nothing: the value is missing or read elsewhere (the id given).
            Id(u32),
            /// The id of the row before (the same value).
            Repeat,
            /// A look in the table for this fingerprint.
            Print(u128),
        }
        let n = records.len();
        let next = self.forms.len();
        let mut first = Vec::new();
        let mut of_record = Vec::with_capacity(n);
        let mut before: Option<&str> = None;
        let mut run: Vec<Look> = Vec::with_capacity(RUN);
        for start in (0..n).step_by(RUN) {
            run.clear();
            records.each_field(field, start..n.min(start + RUN), |i, v| {
                run.push(match v {
                    None => {
                        before = None;
                        Look::Id(u32::MAX)
                    }
                    Some(v) if read(i, v) => {
                        before = None;
                        Look::Id(READ_ELSEWHERE)
                    }
                    Some(v) => {
                        // The last bytes first: a value unlike the row before's seldom shares
                        // its length and last byte, and then no comparison is called.
                        let repeat = before.is_some_and(|b| {
                            b.len() == v.len()
                                && b.as_bytes().last() == v.as_bytes().last()
                                && b == v
                        });
                        before = Some(v);
                        if repeat {
                            Look::Repeat
                        } else {
                            Look::Print(fingerprint(v))
                        }
                    }
                });
            });
            self.ids.touch(run.iter().filter_map(|l| match l {
                Look::Print(p) => Some(*p),
                _ => None,
            }));
            for (k, &look) in run.iter().enumerate() {
                let id = match look {
                    Look::Id(id) => id,
                    Look::Repeat => of_record.last().copied().unwrap_or(u32::MAX),
                    Look::Print(print) => match self.ids.find(print) {
                        Some(id) => id,
                        None => {
                            let id = (next + first.len()) as u32;
                            first.push((start + k) as u32);
                            self.ids.insert(print, id);
                            id
                        }
                    },
                };
                of_record.push(id);
            }
        }
        Scanned { of_record, first }
    }

    /// The form of the value with id `of` (`None` for a missing value).
    fn form(&self, of: u32) -> Option<&T> {
        self.forms.get(of as usize)
    }
}

/// Hands `take` the form of each id of `of` (the default for a missing value), in order. The
/// forms of a register's names and addresses are megabytes, looked up in no order: they are
/// read a run at a time into a small buffer, the reads of a run independent of one another so
/// that their cache misses overlap, and only then handed on (on the 100k × 2M link, filling
/// the name and address columns this way took 0.05 s of processor time instead of 0.10 s).
fn gathered<T: Copy + Default>(seen: &Seen<T>, of: &[u32], mut take: impl FnMut(T)) {
    const RUN: usize = 32;
    let mut buf = [T::default(); RUN];
    for run in of.chunks(RUN) {
        for (b, &id) in buf.iter_mut().zip(run) {
            *b = seen.form(id).copied().unwrap_or_default();
        }
        buf.iter().take(run.len()).copied().for_each(&mut take);
    }
}

/// Names, addresses and birth dates already standardised by [`prepare_cached`], for a file
/// prepared in chunks or for two files prepared one after the other: a value met again is
/// looked up rather than standardised again. (A register sorted by person rather than by
/// household spreads a household's address over many chunks: in the synthetic 2M register,
/// two in five of the addresses a chunk meets were met in an earlier one.)
#[derive(Debug, Default)]
pub struct PrepareCache {
    names: Seen<NameIds>,
    addresses: Seen<AddressIds>,
    dates: Seen<Option<NaiveDate>>,
}

/// [`prepare`] for one chunk of a larger input, reusing (and filling) `cache`, its records
/// appended to `out` (which the caller sizes with [`Records::reserve`] when it knows the
/// input's length).
pub fn prepare_cached<S: RecordSource + ?Sized>(
    records: &S,
    interner: &mut Interner,
    reference: Option<NaiveDate>,
    cache: &mut PrepareCache,
    out: &mut Records,
) {
    prepare_with(records, interner, reference, cache, out);
}

/// Runs `make` over runs of `items` in parallel and `take` over its results in order, a slice
/// at a time, `take` of one slice running beside `make` of the next: the sequential step
/// (interning) keeps one thread busy while the other standardises, and only two slices of
/// intermediate strings are alive at once. The first slice has nothing to overlap with, so
/// slices are small: a chunk of a register meets some 10,000–25,000 new names and addresses,
/// and with slices of 8,192 a third of the standardising ran with the interning idle (the
/// 100k × 2M link's standardisation took 0.50 s of its 0.95 s read; with slices of 1,024,
/// 0.37 s of 0.80 s).
fn overlapped<I: Sync, M: Send>(
    items: &[I],
    make: impl Fn(&[I]) -> M + Sync + Send,
    mut take: impl FnMut(M) + Send,
) {
    const SLICE: usize = 1 << 10;
    /// Items per call of `make`.
    const RUN: usize = 64;
    let mut slices = items.chunks(SLICE);
    let Some(first) = slices.next() else {
        return;
    };
    let mut made: Vec<M> = first.par_chunks(RUN).map(&make).collect();
    for next in slices {
        let (_, following) = rayon::join(
            || made.drain(..).for_each(&mut take),
            || next.par_chunks(RUN).map(&make).collect::<Vec<M>>(),
        );
        made = following;
    }
    made.into_iter().for_each(take);
}

/// A distinct value to standardise, for [`overlapped`].
enum Raw<'a> {
    Name(&'a str),
    Address(&'a str),
}

/// The standardised forms of a run of distinct names and addresses, before interning: their
/// strings end to end in one buffer, each with its [`fingerprint`], so that the thread that
/// interns them hashes no string and frees only the run's few buffers (freeing a block
/// another thread allocated is the allocator's slow path).
struct Forms {
    text: String,
    /// Per string: its end in `text` and its fingerprint (0 for an empty string).
    strings: Vec<(usize, u128)>,
    /// Per value, in order.
    values: Vec<Form>,
}

/// One value of [`Forms`].
enum Form {
    /// A name. Its strings: the standardised form, the form as written if that differs
    /// (`written`), the pinyin and the surname's pinyin.
    Name { written: bool, wildcard: bool },
    /// An address. Its strings: the village and the normalised text.
    Address { township: u32 },
}

impl Forms {
    /// The forms of `run`.
    fn of(run: &[Raw<'_>]) -> Forms {
        let mut f = Forms {
            text: String::with_capacity(run.len() * 32),
            strings: Vec::with_capacity(run.len() * 4),
            values: Vec::with_capacity(run.len()),
        };
        for raw in run {
            match raw {
                Raw::Name(v) => {
                    let (written, name, wildcard, pinyin, surname) = standardise_name(v);
                    f.push(&name);
                    if let Some(w) = &written {
                        f.push(w);
                    }
                    f.push(&pinyin);
                    f.push(&surname);
                    f.values.push(Form::Name {
                        written: written.is_some(),
                        wildcard,
                    });
                }
                Raw::Address(v) => {
                    let a = parse_address(v);
                    f.push(a.village.as_deref().unwrap_or(""));
                    f.push(&a.normalized);
                    f.values.push(Form::Address {
                        township: a.township.and_then(|t| t.code.parse().ok()).unwrap_or(0),
                    });
                }
            }
        }
        f
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        let print = if s.is_empty() { 0 } else { fingerprint(s) };
        self.strings.push((self.text.len(), print));
    }

    /// Interns the forms into `interner`, in order, appending each name's ids to `names` and
    /// each address's to `addresses`.
    fn intern(
        self,
        interner: &mut Interner,
        names: &mut Vec<NameIds>,
        addresses: &mut Vec<AddressIds>,
    ) {
        let Forms {
            text,
            strings,
            values,
        } = self;
        interner.touch(strings.iter().map(|&(_, print)| print));
        let mut start = 0;
        let mut strings = strings.into_iter();
        let mut next = || {
            let Some((end, print)) = strings.next() else {
                return 0;
            };
            let s = text.get(start..end).unwrap_or("");
            start = end;
            interner.intern_fingerprinted(s, print)
        };
        for value in values {
            match value {
                Form::Name { written, wildcard } => {
                    let name = next();
                    let raw = if written { next() } else { name };
                    names.push(NameIds {
                        raw,
                        name,
                        wildcard,
                        pinyin: next(),
                        surname_pinyin: next(),
                    });
                }
                Form::Address { township } => addresses.push(AddressIds {
                    township,
                    village: next(),
                    text: next(),
                }),
            }
        }
    }
}

fn prepare_with<S: RecordSource + ?Sized>(
    records: &S,
    interner: &mut Interner,
    reference: Option<NaiveDate>,
    cache: &mut PrepareCache,
    out: &mut Records,
) {
    let ctx = DateContext {
        reference,
        allow_excel_serial: true,
    };
    let n = records.len();
    let PrepareCache {
        names,
        addresses,
        dates,
    } = cache;
    // One pass over the records: their ids, their (rare) former names, and which name,
    // address and birth date each has. The four sequential scans run side by side.
    let (record_id, former_name) = (&mut out.record_id, &mut out.former_name);
    let ((name_scan, address_scan), ((), date_scan)) = rayon::join(
        || {
            rayon::join(
                || names.scan(records, RecordField::Name),
                || addresses.scan(records, RecordField::Address),
            )
        },
        || {
            rayon::join(
                || {
                    record_id.extend(n, |rows, push| {
                        records.each_field(RecordField::RecordId, rows, |_, id| {
                            push(id.unwrap_or(""))
                        });
                    });
                    records.each_field(RecordField::FormerName, 0..n, |_, f| {
                        let former = f.map(|f| standardize_name(f).standardized);
                        former_name.push(former.map_or(0, |f| interner.intern(&f)));
                    });
                },
                || {
                    // Dates written `YYYY-MM-DD` are read on the spot (quicker than a look in
                    // the table); the others are looked up, and parsed once each.
                    let mut iso = vec![None; n];
                    let scanned = dates.scan_unless(records, RecordField::BirthDate, |i, v| {
                        parse_iso_day(v).map(|d| iso[i] = d).is_some()
                    });
                    (iso, scanned)
                },
            )
        },
    );
    let (iso_dates, date_scan) = date_scan;

    // A value first met in this chunk, as a record in it has it.
    let value = |field: RecordField, i: &u32| records.field(*i as usize, field).unwrap_or("");
    // Birth dates first: the ID checks below use them.
    let dates_made: Vec<Option<NaiveDate>> = date_scan
        .first
        .par_iter()
        .map(|i| parse_date(value(RecordField::BirthDate, i), &ctx).date)
        .collect();
    dates.forms.extend(dates_made);
    let dates = &*dates;
    let date_of = date_scan.of_record;

    // The names and addresses not met before, standardised in parallel and interned in order.
    let raw: Vec<Raw<'_>> = name_scan
        .first
        .iter()
        .map(|i| Raw::Name(value(RecordField::Name, i)))
        .chain(
            address_scan
                .first
                .iter()
                .map(|i| Raw::Address(value(RecordField::Address, i))),
        )
        .collect();
    let (name_forms, address_forms) = (&mut names.forms, &mut addresses.forms);
    // Alongside: each record's ID number, gender and phone, a span of records at a time (its
    // three fields read column by column).
    let (per, ()) = rayon::join(
        || {
            const SPAN: usize = 2048;
            (0..n.div_ceil(SPAN))
                .into_par_iter()
                .map(|k| {
                    let rows = k * SPAN..n.min((k + 1) * SPAN);
                    let column = |f: RecordField| {
                        let mut values = Vec::with_capacity(rows.len());
                        records.each_field(f, rows.clone(), |_, v| values.push(v));
                        values
                    };
                    let (ids, genders, phones) = (
                        column(RecordField::IdNumber),
                        column(RecordField::Gender),
                        column(RecordField::Phone),
                    );
                    rows.clone()
                        .zip(ids.into_iter().zip(genders).zip(phones))
                        .map(|(i, ((id_number, gender), phone))| {
                            per_record(
                                IdFields {
                                    id_number,
                                    gender,
                                    phone,
                                },
                                if date_of[i] == READ_ELSEWHERE {
                                    iso_dates[i]
                                } else {
                                    dates.form(date_of[i]).copied().flatten()
                                },
                                &ctx,
                            )
                        })
                        .collect::<Vec<PerRecord>>()
                })
                .collect::<Vec<Vec<PerRecord>>>()
        },
        || {
            overlapped(&raw, Forms::of, |f| {
                f.intern(interner, name_forms, address_forms);
            });
        },
    );
    let (names, addresses) = (&*names, &*addresses);

    // The columns filled four groups at a time (most of the time goes on first touching the
    // columns' memory, which the threads can do side by side).
    let Records {
        id18,
        id_quality,
        id_was15,
        name_raw,
        name,
        name_wildcard,
        pinyin,
        surname_pinyin,
        dob,
        gender,
        township,
        village,
        address,
        phone,
        ..
    } = out;
    let per = &per;
    rayon::join(
        || {
            rayon::join(
                || {
                    for p in per.iter().flatten() {
                        id18.push(p.id18);
                        id_quality.push(p.id_quality);
                        id_was15.push(p.id_was15);
                    }
                },
                || {
                    for p in per.iter().flatten() {
                        dob.push(p.dob);
                        gender.push(p.gender);
                        phone.push(p.phone);
                    }
                },
            )
        },
        || {
            rayon::join(
                || {
                    gathered(names, &name_scan.of_record, |nm| {
                        name_raw.push(nm.raw);
                        name.push(nm.name);
                        name_wildcard.push(nm.wildcard);
                        pinyin.push(nm.pinyin);
                        surname_pinyin.push(nm.surname_pinyin);
                    });
                },
                || {
                    gathered(addresses, &address_scan.of_record, |ad| {
                        township.push(ad.township);
                        village.push(ad.village);
                        address.push(ad.text);
                    });
                },
            )
        },
    );
}

/// Year, month and day of a day number (proleptic Gregorian; `(0, 0, 0)` for [`NO_DATE`]).
/// Called twice for every compared pair, so by arithmetic on 400-year eras (H. Hinnant's
/// `civil_from_days`) rather than through a `NaiveDate`.
pub(crate) fn ymd(d: i32) -> (i32, u32, u32) {
    if d == NO_DATE {
        return (0, 0, 0);
    }
    // Days since 0000-03-01, so that a leap day ends its year.
    let z = i64::from(d) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The arithmetic calendar agrees with chrono's.
        #[test]
        fn ymd_is_the_calendar_date(d in -800_000i32..800_000) {
            let date = date_of(d).expect("in chrono's range");
            prop_assert_eq!(ymd(d), (date.year(), date.month(), date.day()));
        }

        /// Equal strings get equal ids, different strings different ids, and every id gives
        /// its string back.
        #[test]
        fn interning_round_trips(words in prop::collection::vec("[张王李a-c]{0,3}", 0..60)) {
            let mut s = Interner::new();
            let ids: Vec<u32> = words.iter().map(|w| s.intern(w)).collect();
            for (w, &id) in words.iter().zip(&ids) {
                prop_assert_eq!(s.get(id), w.as_str());
                prop_assert_eq!(id == 0, w.is_empty());
            }
            for (a, &ia) in words.iter().zip(&ids) {
                for (b, &ib) in words.iter().zip(&ids) {
                    prop_assert_eq!(a == b, ia == ib);
                }
            }
            let mut distinct = words.clone();
            distinct.retain(|w| !w.is_empty());
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(s.len(), distinct.len() + 1);
        }

        /// A print table finds every value it was given, with its id, through the growths
        /// (the first at 768 values) and whatever the home slots' collisions (prints that
        /// share their low bits, and so their home slot, probe past each other), and finds
        /// no value it was not given.
        #[test]
        fn print_table_finds_what_it_holds(
            keys in prop::collection::hash_set(0u64..1 << 32, 0..3_000),
            crowd in 0u32..4,
        ) {
            // `crowd` shifts the keys up, so that many share a table's low bits; bits 64–95
            // keep each key whole, so the prints differ in the 96 bits compared.
            let print = |k: u64| u128::from(k << (12 * crowd)) | (u128::from(k) << 64);
            let keys: Vec<u64> = keys.into_iter().collect();
            let (held, absent) = keys.split_at(keys.len() / 2);
            let mut t = PrintTable::default();
            for (id, &k) in held.iter().enumerate() {
                prop_assert_eq!(t.find(print(k)), None);
                t.insert(print(k), id as u32);
            }
            for (id, &k) in held.iter().enumerate() {
                prop_assert_eq!(t.find(print(k)), Some(id as u32));
            }
            for &k in absent {
                prop_assert_eq!(t.find(print(k)), None);
            }
        }

        /// Room reserved part-way (for a second file) changes no id, held or to come.
        #[test]
        fn reserving_changes_no_id(
            words in prop::collection::vec("[张王李a-c]{0,3}", 0..60),
            at in 0usize..60,
            room in 0usize..5_000,
        ) {
            let mut plain = Interner::new();
            let want: Vec<u32> = words.iter().map(|w| plain.intern(w)).collect();
            let mut reserved = Interner::new();
            let at = at.min(words.len());
            let mut got: Vec<u32> = words[..at].iter().map(|w| reserved.intern(w)).collect();
            reserved.reserve_for(room);
            got.extend(words[at..].iter().map(|w| reserved.intern(w)));
            prop_assert_eq!(got, want);
            prop_assert_eq!(reserved.parts(), plain.parts());
        }

        /// Front-coded ids give every id back, however much neighbours share (up to past the
        /// 255 bytes one entry can share, and splitting multi-byte characters), and survive
        /// [`RecordIds::parts`] and [`RecordIds::from_parts`].
        #[test]
        fn record_ids_round_trip(
            stem in "[a-z/:]{0,300}",
            tails in prop::collection::vec("[0-9张王é]{0,6}", 0..70),
        ) {
            let ids: Vec<String> = tails.iter().map(|t| format!("{stem}{t}")).collect();
            let mut r = RecordIds::default();
            for id in &ids {
                r.push(id);
            }
            prop_assert_eq!(r.len(), ids.len());
            for (i, id) in ids.iter().enumerate() {
                prop_assert_eq!(&r.get(i), id);
            }
            prop_assert_eq!(r.get(ids.len()), "");
            let (bytes, blocks, len) = r.parts();
            let back = RecordIds::from_parts(bytes.to_vec(), blocks.to_vec(), len);
            prop_assert_eq!(back.as_ref(), Some(&r));
            // A damaged coding is refused, not misread.
            if !bytes.is_empty() {
                let mut cut = bytes.to_vec();
                cut.pop();
                prop_assert!(RecordIds::from_parts(cut, blocks.to_vec(), len).is_none());
            }
        }
    }

    proptest! {
        // Each case codes thousands of ids (more than one parallel run's worth).
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Ids appended in parallel runs are coded exactly as pushed one by one, whichever
        /// ids were pushed before (so wherever in a block the appending starts).
        #[test]
        fn record_ids_extend_codes_as_pushes(
            before in prop::collection::vec("[a-c0-9]{0,12}", 0..40),
            ids in prop::collection::vec("(gongan/population:GA0000)?[0-9]{1,6}", 0..9_000),
        ) {
            let mut pushed = RecordIds::default();
            for id in before.iter().chain(&ids) {
                pushed.push(id);
            }
            let mut extended = RecordIds::default();
            for id in &before {
                extended.push(id);
            }
            extended.extend(ids.len(), |rows, push| ids[rows].iter().for_each(|id| push(id)));
            prop_assert_eq!(&extended, &pushed);
            let mut next = (pushed.clone(), extended);
            next.0.push("x1");
            next.1.push("x1");
            prop_assert_eq!(next.0, next.1);
        }
    }

    /// A subset keeps the chosen rows' fields, its strings re-interned into its own interner.
    #[test]
    fn values_repeating_the_row_before_keep_one_id() {
        // Households listed together: an address repeats the row before's, then recurs later.
        let addresses = [
            "东城街道1号",
            "东城街道1号",
            "西城街道2号",
            "东城街道1号",
            "西城街道2号",
        ];
        let recs: Vec<InputRecord> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| InputRecord {
                record_id: format!("R{i}"),
                name: Some(["张伟", "张伟", "王芳", "张伟", "李娜"][i].into()),
                former_name: None,
                id_number: None,
                birth_date: None,
                gender: None,
                address: Some(format!("湖北省随州市曾都区{a}")),
                phone: None,
            })
            .collect();
        let mut strings = Interner::new();
        let p = prepare(&recs, &mut strings, None);
        for i in 0..recs.len() {
            for j in 0..recs.len() {
                assert_eq!(
                    p.address[i] == p.address[j],
                    addresses[i] == addresses[j],
                    "rows {i} and {j}"
                );
                assert_eq!(p.name[i] == p.name[j], recs[i].name == recs[j].name);
            }
        }
        assert!(strings.get(p.address[2]).contains("西城街道"));
    }

    #[test]
    fn subset_keeps_rows_and_their_strings() {
        let recs: Vec<InputRecord> = (0..6)
            .map(|i| InputRecord {
                record_id: format!("R{i}"),
                name: Some(["张伟", "王芳", "李娜"][i % 3].into()),
                former_name: (i == 4).then(|| "张三".into()),
                id_number: Some(format!("42130319800101{:03}X", i)),
                birth_date: Some("1980-01-01".into()),
                gender: None,
                address: Some(format!("湖北省随州市曾都区南郊街道{}号", i)),
                phone: None,
            })
            .collect();
        let mut strings = Interner::new();
        let all = prepare(&recs, &mut strings, None);
        let mut copied = SampleStrings::new(&strings);
        let sub = all.subset(&[4, 1, 99], &mut copied);
        let own = copied.finish();
        assert_eq!(sub.len(), 2);
        for (k, i) in [4usize, 1].into_iter().enumerate() {
            assert_eq!(sub.record_id.get(k), all.record_id.get(i));
            assert_eq!(sub.id18[k], all.id18[i]);
            assert_eq!(sub.dob[k], all.dob[i]);
            for (a, b) in [
                (sub.name[k], all.name[i]),
                (sub.pinyin[k], all.pinyin[i]),
                (sub.former_name[k], all.former_name[i]),
                (sub.address[k], all.address[i]),
                (sub.village[k], all.village[i]),
            ] {
                assert_eq!(own.get(a), strings.get(b));
            }
        }
        assert!(own.len() < strings.len());
    }

    /// Chunks prepared one by one with a shared cache and appended give the same records as
    /// the whole file prepared at once.
    #[test]
    fn chunked_preparation_equals_whole() {
        let recs: Vec<InputRecord> = (0..50)
            .map(|i| InputRecord {
                record_id: format!("R{i}"),
                name: Some(["张伟", "王芳", "李娜", "張偉"][i % 4].into()),
                former_name: (i % 7 == 0).then(|| "张三".into()),
                id_number: Some(format!("42130319800101{:03}X", i)),
                birth_date: Some(["1980-01-01", "19800102", ""][i % 3].into()),
                gender: Some(["男", "2"][i % 2].into()),
                address: Some(format!("湖北省随州市曾都区南郊街道{}号", i % 5)),
                phone: (i % 2 == 0).then(|| format!("1380000{:04}", i)),
            })
            .collect();
        let mut whole_strings = Interner::new();
        let whole = prepare(&recs, &mut whole_strings, None);
        let mut strings = Interner::new();
        let mut cache = PrepareCache::default();
        let mut joined = Records::default();
        for chunk in recs.chunks(13) {
            prepare_cached(chunk, &mut strings, None, &mut cache, &mut joined);
        }
        assert_eq!(joined.len(), whole.len());
        for i in 0..whole.len() {
            assert_eq!(joined.record_id.get(i), whole.record_id.get(i));
            assert_eq!(joined.id18[i], whole.id18[i]);
            assert_eq!(joined.id_quality[i], whole.id_quality[i]);
            assert_eq!(joined.dob[i], whole.dob[i]);
            assert_eq!(joined.gender[i], whole.gender[i]);
            assert_eq!(joined.phone[i], whole.phone[i]);
            assert_eq!(joined.township[i], whole.township[i]);
            for (a, b, sa, sb) in [
                (joined.name[i], whole.name[i], &strings, &whole_strings),
                (joined.pinyin[i], whole.pinyin[i], &strings, &whole_strings),
                (
                    joined.former_name[i],
                    whole.former_name[i],
                    &strings,
                    &whole_strings,
                ),
                (
                    joined.address[i],
                    whole.address[i],
                    &strings,
                    &whole_strings,
                ),
                (
                    joined.village[i],
                    whole.village[i],
                    &strings,
                    &whole_strings,
                ),
            ] {
                assert_eq!(sa.get(a), sb.get(b), "record {i}");
            }
        }
    }
}
